using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;

namespace Lockstep.Tests.Models;

/// <summary>The acceptance criteria of `lockstep check`: every verdict below comes from exploring the model.</summary>
public class AcceptanceTests
{
    private static readonly Registry Registry = Registry.WithBuiltIns();

    private static ScenarioRun Run(string proposal, KernelConfig config, string scenario = "oom-reap-vs-fault")
        => Suite.Run(Registry, Registry.Proposal(proposal), config, Registry.Scenario(scenario),
            new DporStrategy(), new ExplorationOptions { MaxExecutions = 10_000 });

    private static Finding? Find(ScenarioRun r, string property) => r.Findings.FirstOrDefault(f => f.Property == property);

    [Fact]
    public void MainlineOnRtReproducesSeansSplatFromTheOomReaper()
    {
        var r = Run("mainline", KernelConfig.Rt);
        Assert.True(r.Exploration.Exhaustive);
        var splat = (KernelReport)Find(r, "S2")!.Violation;
        Assert.StartsWith("BUG: sleeping function called from invalid context at kernel/locking/spinlock_rt.c", splat.Text);
        Assert.Contains("non_block: 1, pid: 53, name: oom_reaper", splat.Text);
        Assert.Contains(" kvm_mmu_notifier_invalidate_range_start\n", splat.Text);
        Assert.Contains(" __oom_reap_task_mm\n", splat.Text);
        Assert.Null(Find(r, "S1"));
    }

    [Theory]
    [InlineData("oom-reap-vs-fault")]
    [InlineData("oom-reap-vs-memslot")]
    [InlineData("munmap-vs-fault")]
    public void MainlineOnNonRtIsCleanExhaustively(string scenario)
    {
        var r = Run("mainline", KernelConfig.Default, scenario);
        Assert.True(r.Exploration.Exhaustive, $"{r.Exploration.Executions} executions");
        Assert.Empty(r.Findings);
        Assert.Null(r.ModelError);
    }

    [Fact]
    public void RawMnInvalidateLockStillSplatsOnRtAtTheNextSleepingLock()
    {
        var splat = (KernelReport)Find(Run("raw-mn-invalidate-lock", KernelConfig.Rt), "S2")!.Violation;
        Assert.Contains("non_block: 1", splat.Text);
        Assert.Contains("rt_spin_lock\n gfn_to_pfn_cache_invalidate_start", splat.Text);   // gpc_lock, right after the raw lock
        Assert.Empty(Run("raw-mn-invalidate-lock", KernelConfig.Default).Findings);
    }

    [Fact]
    public void OomEnterUnregisterGivesTheRecursiveLockingReportAndARealDeadlock()
    {
        var r = Run("oom-enter-unregister", KernelConfig.Default);
        var lockdep = (KernelReport)Find(r, "S3")!.Violation;
        Assert.Contains("WARNING: possible recursive locking detected", lockdep.Text);
        Assert.Matches(@"is trying to acquire lock:\n\S+ \(srcu\)\S*, at: __synchronize_srcu", lockdep.Text);
        Assert.Matches(@"already holding lock:\n\S+ \(srcu\)\S*, at: __mmu_notifier_oom_enter", lockdep.Text);
        Assert.NotNull(Find(r, "S4"));   // the grace period waits for its own reader
        Assert.NotNull(Find(r, "L1"));   // and OOM handling stalls

        // The token replays the same report.
        var replay = Suite.Replay(Registry, Find(r, "S3")!.Token).Replay;
        Assert.Contains(replay.Violations.OfType<KernelReport>(), v => v.Kind == "lockdep-recursive" && v.Text == lockdep.Text);
    }

    /// <summary>
    /// Shrinking runs on a fresh model: on the explored one, lockdep's chain cache has validated the chain already and the
    /// report is not made again, so a lockdep finding of a random search kept all its preemptions (16 here).
    /// </summary>
    [Fact]
    public void LockdepFindingsOfARandomSearchAreShrunk()
    {
        var r = Suite.Run(Registry, Registry.Proposal("oom-enter-unregister"), KernelConfig.Default, Registry.Scenario("oom-reap-vs-fault"),
            new RandomStrategy(7, 2_000), new ExplorationOptions { MaxExecutions = 2_000 });
        var lockdep = Find(r, "S3")!.Violation;
        Assert.Equal(0, lockdep.Preemptions);
    }

    [Theory]
    [InlineData("oom-enter-flag", "S1")]
    [InlineData("oom-enter-call-srcu", "S1")]
    [InlineData("defer-nonblock-work", "S1")]
    [InlineData("defer-nonblock-work-eagain", "S5")]
    [InlineData("defer-nonblock-work-eagain", "L2")]
    public void ThreadProposalsBreakWhatTheThreadSaid(string proposal, string property)
        => Assert.NotNull(Find(Run(proposal, KernelConfig.Rt), property));

    [Fact]
    public void AtomicCountBreaksTheMemslotExclusion()
    {
        var r = Run("atomic-count", KernelConfig.Default, "oom-reap-vs-memslot");
        Assert.NotNull(Find(r, "S6"));
        Assert.NotNull(Find(r, "L4"));
    }

    [Theory]
    [InlineData("oom-reap-vs-fault")]
    [InlineData("oom-reap-vs-memslot")]
    [InlineData("munmap-vs-fault")]
    [InlineData("oom-reap-vs-gpc-refresh")]
    [InlineData("oom-reap-vs-exit")]
    public void OomEnterZapDeadHoldsEveryPropertyOnRt(string scenario)
    {
        var r = Suite.Run(Registry, Registry.Proposal("oom-enter-zap-dead"), KernelConfig.Rt, Registry.Scenario(scenario), new DporStrategy(), new ExplorationOptions());   // exit: 162,587 executions
        Assert.True(r.Exploration.Exhaustive);
        Assert.Empty(r.Findings);
    }

    [Fact]
    public void BadTokensAreErrorsNotCrashes()
    {
        Assert.Throws<FormatException>(() => Suite.Replay(Registry, "nonsense"));
        Assert.Throws<ArgumentException>(() => Suite.Replay(Registry, "no-such-proposal/rt/oom-reap-vs-fault/0/s1.AA"));
        Assert.Throws<FormatException>(() => Suite.Replay(Registry, $"mainline/rt/oom-reap-vs-fault/{Registry.Fingerprint(Registry.Proposal("mainline"), Registry.Scenario("oom-reap-vs-fault"))}/garbage"));
    }
}
