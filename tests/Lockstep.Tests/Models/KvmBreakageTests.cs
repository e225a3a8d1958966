using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.mm;
using Lockstep.Models.Proposals;
using Lockstep.Models.arch.x86;
using Lockstep.Models.virt.kvm;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;

namespace Lockstep.Tests.Models;

/// <summary>
/// The KVM model on mainline !RT passes every property exhaustively; each deliberate breakage of issue 5 is caught
/// (KERNEL-FACTS §3.7, §3.8).
/// </summary>
public class KvmBreakageTests
{
    private static ScenarioRun Run(Func<Mm, KvmMain> kvm, string scenario) => Run(new Proposal("breakage", "test", "test") { Kvm = kvm }, scenario);

    private static ScenarioRun Run(Proposal breakage, string scenario)
    {
        var registry = Registry.WithBuiltIns();
        registry.Register(breakage);
        return Suite.Run(registry, breakage, KernelConfig.Default, registry.Scenario(scenario), new DporStrategy(), new ExplorationOptions { MaxExecutions = 100_000 });
    }

    /// <summary>
    /// The exploration sizes are DPOR's with every piece of shared state engine-visible (issue 11): they grew where
    /// plain state became visible and its races were explored (the SPTEs and gpc fields against the S1 oracle's reads
    /// at each page free, mmu_invalidate_in_progress against kvm_destroy_vm's WARN, the subscription's hlist node,
    /// mm_count, the S7 lifetime states), shrank where SRCU readers stopped ordering each other (only grace periods order
    /// against them, as the per-CPU srcu_ctrs do), and moved with the kernel release's behaviour (noted per row).
    /// </summary>
    [Theory]
    [InlineData("oom-reap-vs-fault", 20)]   // the fault may map after MMF_UNSTABLE; it releases its page under mmu_lock (v6.13+)
    [InlineData("oom-reap-vs-memslot", 100)]
    [InlineData("oom-reap-vs-exit", 2_096)]
    [InlineData("munmap-vs-fault", 20)]
    [InlineData("oom-reap-vs-gpc-refresh", 78)]
    [InlineData("reclaim-aging-vs-fault", 5)]   // x86 ages without mmu_lock (v6.15+): its SPTE reads race the fault's write
    public void MainlineNonRtPassesEveryScenarioExhaustively(string scenario, long executions)
    {
        var r = Run(m => new KvmMain(m), scenario);
        Assert.True(r.Exploration.Exhaustive);
        Assert.Equal(executions, r.Exploration.Executions);
        Assert.Empty(r.Findings);
    }

    [Fact]
    public void DroppingTheMemslotWaitLeavesInProgressUnbalanced()   // the bug 52ac8b358b0c fixed
    {
        var r = Run(m => new NoMemslotWait(m), "oom-reap-vs-memslot");
        Assert.Contains(r.Findings, f => f.Property == "S6");
        Assert.Contains(r.Findings, f => f.Property == "L4");
    }

    [Theory]
    [InlineData("oom-reap-vs-fault")]
    [InlineData("munmap-vs-fault")]
    public void DroppingTheSeqCheckInTheFaultMapsAFreedPage(string scenario)
        => Assert.Contains(Run(new Proposal("breakage", "test", "test") { Mmu = kvm => new NoSeqCheck(kvm) }, scenario).Findings, f => f.Property == "S1");

    [Theory]
    [InlineData("oom-reap-vs-fault")]
    [InlineData("munmap-vs-fault")]
    public void SkippingTheZapInStartMapsAFreedPage(string scenario)
        => Assert.Contains(Run(m => new NoZapInStart(m), scenario).Findings, f => f.Property == "S1");

    [Fact]
    public void IncrementingTheCountWithoutTheLockBreaksTheCounters()
        => Assert.Contains(Run(m => new CountWithoutLock(m), "oom-reap-vs-memslot").Findings, f => f.Property == "S6");

    [Fact]
    public void ARefreshThatIgnoresActiveInvalidationsCachesAFreedPage()
        => Assert.Contains(Run(m => new RefreshWithoutRetryCheck(m), "oom-reap-vs-gpc-refresh").Findings, f => f.Property == "S1");

    /// <summary>hva_to_pfn_retry without mmu_notifier_retry_cache.</summary>
    private sealed class RefreshWithoutRetryCheck(Mm mm) : KvmMain(mm)
    {
        public override SimTask<bool> mmu_notifier_retry_cache(kvm k, long mmu_seq) => SimTask<bool>.FromValue(false);
    }

    /// <summary>kvm_swap_active_memslots without the wait for mn_active_invalidate_count == 0.</summary>
    private sealed class NoMemslotWait(Mm mm) : KvmMain(mm)
    {
        public override async SimTask kvm_swap_active_memslots(kvm k, kvm_memslots slots)
        {
            await spin_lock(k.mn_invalidate_lock);
            await k.memslots.Write(slots with { generation = slots.generation + 1 });
            await spin_unlock(k.mn_invalidate_lock);
            await mutex_unlock(k.slots_arch_lock);
            await synchronize_srcu_expedited(k.srcu);
        }
    }

    /// <summary>A fault that never checks mmu_invalidate_retry_gfn.</summary>
    private sealed class NoSeqCheck(KvmMain kvm) : Mmu(kvm)
    {
        public override SimTask<bool> is_page_fault_stale(kvm k, long mmu_seq, long gfn) => SimTask<bool>.FromValue(false);
    }

    /// <summary>invalidate_range_start that counts and begins but zaps nothing (kvm_mmu_unmap_gfn_range does nothing).</summary>
    private sealed class NoZapInStart(Mm mm) : KvmMain(mm)
    {
        public override SimTask<bool> kvm_mmu_unmap_gfn_range(kvm k, kvm_memory_slot slot, long start, long end) => SimTask<bool>.FromValue(false);
    }

    /// <summary>The count incremented with a plain read and write, outside mn_invalidate_lock.</summary>
    private sealed class CountWithoutLock(Mm mm) : KvmMain(mm)
    {
        protected override async SimTask mn_active_invalidate_count_inc(kvm k)
        {
            var count = await k.mn_active_invalidate_count.Read();
            await k.mn_active_invalidate_count.Write(count + 1);
        }
    }
}
