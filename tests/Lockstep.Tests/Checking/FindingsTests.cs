using System.Runtime.CompilerServices;
using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;
using Lockstep.Models;
using Lockstep.Models.mm;
using Lockstep.Models.Proposals;
using Lockstep.Models.virt.kvm;
using Lockstep.Reporting;
using Lockstep.Scripting;

namespace Lockstep.Tests.Checking;

/// <summary>
/// A run keeps every distinct finding (by signature), each compared with the baseline's run of the same config and
/// scenario; a run that stops at its budget is bounded, and its PCT fallback's findings replay like DPOR's.
/// </summary>
public class FindingsTests
{
    private static readonly Registry Registry = WithStartMutex();

    /// <summary>The built-ins and examples/start-mutex.csx (a new mutex at the top of invalidate_range_start).</summary>
    private static Registry WithStartMutex([CallerFilePath] string here = "")
    {
        var registry = Registry.WithBuiltIns();
        ExtensionLoader.Load(registry, Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "examples", "start-mutex.csx"), cacheDirectory: null);
        return registry;
    }

    private static ScenarioRun Run(string proposal, KernelConfig config, string scenario = "oom-reap-vs-fault", ExplorationOptions? options = null)
        => Suite.Run(Registry, Registry.Proposal(proposal), config, Registry.Scenario(scenario), new DporStrategy(), options ?? new ExplorationOptions());

    private static IEnumerable<string> Signatures(IEnumerable<Finding> findings, string property)
        => findings.Where(f => f.Property == property).Select(f => f.Signature);

    private const string MainlineSplat = "might-sleep:rt_spin_lock(&kvm->mn_invalidate_lock) in kvm_mmu_notifier_invalidate_range_start";

    [Fact]
    public void MainlineOnRtKeepsEverySleepingLockOfTheReapersStartAsItsOwnFinding()
    {
        var r = Run("mainline", KernelConfig.Rt);
        Assert.Equal(new[]
        {
            MainlineSplat,
            "might-sleep:rt_spin_lock(&kvm->gpc_lock) in gfn_to_pfn_cache_invalidate_start",
            "might-sleep:rt_read_lock(&gpc->lock) in gfn_to_pfn_cache_invalidate_start",
            "might-sleep:rt_write_lock(&gpc->lock) in gfn_to_pfn_cache_invalidate_start",
            "might-sleep:rt_write_lock(&kvm->mmu_lock) in kvm_handle_hva_range",
            "might-sleep:rt_spin_lock(&kvm->mn_invalidate_lock) in kvm_mmu_notifier_invalidate_range_end",
        }, Signatures(r.Findings, "S2"));
        // the reaper's non-blockable range is in every execution: each splat is in all of them
        Assert.All(r.Findings, f => Assert.Equal(r.Exploration.Executions, f.Executions));
    }

    [Fact]
    public void MainlineAgainstItselfHasNothingNewAndNothingFixed()
    {
        var (first, second) = (Run("mainline", KernelConfig.Rt), Run("mainline", KernelConfig.Rt));
        var c = Comparison.Of(second, first);   // two explorations: the signatures do not depend on the schedule or the run
        Assert.NotEmpty(c.Findings);
        Assert.All(c.Findings, x => Assert.Equal(Change.Kept, x.Change));
        Assert.Empty(c.Fixed);
    }

    [Fact]
    public void AMutexTakenInANonBlockableStartIsANewSplatBesideMainlinesKeptOne()
    {
        var c = Comparison.Of(Run("start-mutex", KernelConfig.Rt), Run("mainline", KernelConfig.Rt));
        var added = Assert.Single(c.Findings, x => x.Change == Change.New).Finding;
        Assert.Equal(("S2", "might-sleep:mutex_lock(kvm_mn_start_lock) in kvm_mmu_notifier_invalidate_range_start"), (added.Property, added.Signature));
        Assert.Contains(MainlineSplat, Signatures(c.Findings.Where(x => x.Change == Change.Kept).Select(x => x.Finding), "S2"));
        Assert.Empty(c.Fixed);
        // !RT: mainline is clean, the patch's splat is its only finding
        var onDefault = Comparison.Of(Run("start-mutex", KernelConfig.Default), Run("mainline", KernelConfig.Default));
        Assert.Equal(added.Signature, Assert.Single(onDefault.Findings, x => x.Change == Change.New).Finding.Signature);
    }

    /// <summary>A patch whose start first takes a spinlock_t of its own: on RT the same call in the same function as mainline's splat, another lock.</summary>
    private sealed class StartSpinlock : KvmMain
    {
        private readonly spinlock_t _lock;

        public StartSpinlock(Mm mm) : base(mm) => _lock = new spinlock_t(kernel, "kvm_mn_start_spinlock");

        public override async SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
        {
            using (KernelFunction.Enter()) await spin_lock(_lock);
            await spin_unlock(_lock);
            return await base.kvm_mmu_notifier_invalidate_range_start(mn, range);
        }
    }

    [Fact]
    public void TwoSleepingSpinlocksInOneFunctionAreTwoFindings()
    {
        var patch = new Proposal("start-spinlock", "a spinlock_t at the top of invalidate_range_start", "test") { Kvm = m => new StartSpinlock(m) };
        var registry = Registry.WithBuiltIns();
        registry.Register(patch);
        var run = Suite.Run(registry, patch, KernelConfig.Rt, registry.Scenario("oom-reap-vs-fault"), new DporStrategy(), new ExplorationOptions());
        var c = Comparison.Of(run, Run("mainline", KernelConfig.Rt));
        Assert.Equal("might-sleep:rt_spin_lock(kvm_mn_start_spinlock) in kvm_mmu_notifier_invalidate_range_start",
            Assert.Single(c.Findings, x => x.Change == Change.New).Finding.Signature);
        Assert.Contains(c.Findings, x => x.Change == Change.Kept && x.Finding.Signature == MainlineSplat);
    }

    [Fact]
    public void ARawMnInvalidateLockFixesMainlinesSplatAtThatLockAndKeepsTheNextOnes()
    {
        var baseline = Run("mainline", KernelConfig.Rt);
        var run = Run("raw-mn-invalidate-lock", KernelConfig.Rt);
        var c = Comparison.Of(run, baseline);
        Assert.Equal(new[] { MainlineSplat, "might-sleep:rt_spin_lock(&kvm->mn_invalidate_lock) in kvm_mmu_notifier_invalidate_range_end" },
            c.Fixed.Select(f => f.Signature));
        Assert.All(c.Findings, x => Assert.Equal(Change.Kept, x.Change));
        Assert.Contains("might-sleep:rt_spin_lock(&kvm->gpc_lock) in gfn_to_pfn_cache_invalidate_start", Signatures(run.Findings, "S2"));
        // in the matrix: violated, two of mainline's findings gone, nothing new
        var (results, errors) = CheckResults.Tally(new[] { baseline, run }, Properties.Ids, "mainline", TimeSpan.Zero);
        Assert.Empty(errors);
        var s2 = results.Cells.Where(x => x.Property == "S2").ToList();
        Assert.Equal(new[] { "XX", "XX-2" }, s2.Select(x => x.Mark));
        Assert.All(s2[1].Fixed, f => Assert.StartsWith("mainline/rt/oom-reap-vs-fault/", f.Token));   // a fixed finding replays the baseline's run
        var html = Html.Check(results, new Dictionary<string, ExplainedTrace>());
        Assert.Contains("<td class=\"xx\" id=\"cell-raw-mn-invalidate-lock-rt-S2\"", html);
        Assert.Contains(">XX-2</td>", html);
        Assert.Contains("<span class=\"change fixed\">fixed</span>", html);
    }

    [Fact]
    public void ARunStoppedAtItsBudgetIsBoundedAndSaysHowFarDporAndPctWent()
    {
        var options = new ExplorationOptions
        {
            MaxTotalSteps = 200_000,
            Fallback = () => new PctStrategy(seed: 1, depth: 3, executions: long.MaxValue),
            FallbackShare = 0.2,
        };
        var run = Run("mainline", KernelConfig.Default, "oom-reap-vs-exit", options);
        Assert.False(run.Exploration.Exhaustive);
        var (results, _) = CheckResults.Tally(new[] { run }, Properties.Ids, null, TimeSpan.Zero);
        Assert.All(results.Cells, c => Assert.Equal(("bounded", "bd"), (c.Verdict, c.Mark)));
        var bounded = Assert.Single(results.Cells[0].Bounded);
        Assert.Equal(("oom-reap-vs-exit", "dpor", "step budget"), (bounded.Scenario, bounded.Strategy, bounded.StoppedBy));
        var fallback = Assert.IsType<FallbackRun>(bounded.Fallback);
        Assert.Equal($"dpor stopped at the step budget after {run.Exploration.Executions} executions; pct(d=3, seed=1) ran {fallback.Executions} more (to the step budget)",
            bounded.Text);
        var html = Html.Check(results, new Dictionary<string, ExplainedTrace>());
        Assert.Contains("<td class=\"bd\" id=\"cell-mainline-default-S1\">bd</td>", html);
        Assert.Contains($"[oom-reap-vs-exit] bounded: {bounded.Text}", html);
        Assert.Contains("(bounded)</td>", html);
        // the same exploration with a budget it does not reach is exhaustive: the fallback never runs
        var full = Run("mainline", KernelConfig.Default, "oom-reap-vs-fault", options);
        Assert.True(full.Exploration.Exhaustive);
        Assert.Null(full.Exploration.Fallback);
        Assert.All(CheckResults.Tally(new[] { full }, Properties.Ids, null, TimeSpan.Zero).Results.Cells, c => Assert.Equal("holds", c.Verdict));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FindingsOfThePctFallbackAreCheckTokensThatReplay(bool shrink)
    {
        // all of the budget to the fallback: DPOR stops before its first execution
        var options = new ExplorationOptions
        {
            MaxTotalSteps = 10_000,
            Fallback = () => new PctStrategy(seed: 1, depth: 3, executions: long.MaxValue),
            FallbackShare = 1,
            Shrink = shrink,
        };
        var run = Run("mainline", KernelConfig.Rt, "oom-reap-vs-fault", options);
        Assert.Equal(0, run.Exploration.Executions);
        Assert.NotEmpty(run.Findings);
        foreach (var f in run.Findings)
        {
            Assert.Equal("pct(d=3, seed=1)", f.FoundBy);
            var replay = Suite.Replay(Registry, f.Token).Replay;
            Assert.Null(replay.Divergence);
            Assert.Contains(replay.Violations, v => v.Key == f.Signature);
        }
    }
}
