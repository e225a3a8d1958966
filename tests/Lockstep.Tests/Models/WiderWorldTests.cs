using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.arch.x86;
using Lockstep.Models.mm;
using Lockstep.Models.Proposals;
using Lockstep.Models.virt.kvm;
using Lockstep.Tests.MmTests;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using K = Lockstep.Kernel.Kernel;

namespace Lockstep.Tests.Models;

/// <summary>
/// The wider built-in scenarios (issue 11 item 2): mainline passes each one exhaustively (on RT only its known S2
/// splat, where the invalidation is non-blockable), and each catches the plausible wrong patches it was built for. Six
/// of them pass all seven of the thread's scenarios (a zap one gfn short, range_add overwriting, a destroy without the
/// count fixup, unregister without its grace period, a core that stops after the interval tree, a MOVE in one swap); a
/// zap without its flush is visible only since vCPUs have a TLB; the lost wake-up and the skipped non-blockable zap
/// the thread's scenarios catch as well.
/// </summary>
public class WiderWorldTests
{
    private static ScenarioRun Run(Proposal proposal, string scenario, KernelConfig? config = null)
    {
        var registry = Registry.WithBuiltIns();
        if (registry.Proposals.All(p => p.Id != proposal.Id)) registry.Register(proposal);
        return Suite.Run(registry, proposal, config ?? KernelConfig.Default, registry.Scenario(scenario), new DporStrategy(),
            new ExplorationOptions { MaxExecutions = 100_000 });
    }

    private static Proposal Breakage(Func<Mm, KvmMain>? kvm = null, Func<K, Mm>? mm = null, Func<KvmMain, Mmu>? mmu = null)
    {
        var p = new Proposal("breakage", "test", "test") { Mmu = mmu };
        if (kvm != null) p = p with { Kvm = kvm };
        if (mm != null) p = p with { Mm = mm };
        return p;
    }

    private static string Text(Finding f) => ((KernelReport)f.Violation).Text;

    private static string Describe(ScenarioRun r)
        => $"{r.Exploration.Executions} executions, exhaustive {r.Exploration.Exhaustive}: " + string.Join("; ", r.Findings.Select(f => $"{f.Property} {f.Violation}"));

    public static TheoryData<string> Scenarios => new()
    {
        "munmap-vs-two-vcpus", "munmap-vs-reclaim", "vm-close-vs-munmap", "vm-close-vs-aging", "mrelease-vs-fault", "munmap-vs-dmirror",
        "memslot-move-vs-munmap",
    };

    /// <summary>Mainline: clean and exhaustive on !RT; on RT nothing but the S2 splat of a non-blockable start.</summary>
    [Theory]
    [MemberData(nameof(Scenarios))]
    public void MainlinePassesExhaustively(string scenario)
    {
        var r = Run(Mainline.Proposal, scenario);
        Assert.True(r.Exploration.Exhaustive, Describe(r));
        Assert.Null(r.ModelError);
        Assert.Empty(r.Findings);
        var rt = Run(Mainline.Proposal, scenario, KernelConfig.Rt);
        Assert.True(rt.Exploration.Exhaustive, Describe(rt));
        Assert.All(rt.Findings, f => Assert.Equal("S2", f.Property));
    }

    // ---- munmap-vs-two-vcpus: a vCPU faulting gfn 1, the other running on a cached translation ----

    /// <summary>KVM's start zaps but does not flush: vCPU 0's TLB still translates gfn 0 when munmap frees the page.</summary>
    [Fact]
    public void AZapWithoutTheTlbFlushLeavesAStaleTranslation()
    {
        var r = Run(Breakage(kvm: m => new NoFlushOnZap(m)), "munmap-vs-two-vcpus");
        Assert.True(r.Findings.Any(f => f.Property == "S1" && Text(f).Contains("TLB gfn 0x0")), Describe(r));
    }

    /// <summary>The zap stops one gfn short: the SPTE vCPU 1 installed for gfn 1, the range's last page, survives the munmap.</summary>
    [Fact]
    public void AZapRangeEndingOneGfnShortLeavesTheLastPageMapped()
    {
        var r = Run(Breakage(mmu: kvm => new ZapOneShort(kvm)), "munmap-vs-two-vcpus");
        Assert.True(r.Findings.Any(f => f.Property == "S1" && Text(f).Contains("gfn 0x1")), Describe(r));
    }

    // ---- munmap-vs-reclaim: two invalidations with different ranges ----

    /// <summary>range_add overwrites the recorded range: reclaim's [1, 2) hides munmap's [0, 1), a fault maps gfn 0 inside it.</summary>
    [Fact]
    public void ARangeAddThatOverwritesLetsAFaultIntoTheOtherInvalidation()
        => Assert.Contains(Run(Breakage(kvm: m => new RangeAddOverwrites(m)), "munmap-vs-reclaim").Findings, f => f.Property == "S1");

    // ---- vm-close-vs-munmap: the VM fd closed while the mm lives ----

    /// <summary>
    /// kvm_destroy_vm without resetting mn_active_invalidate_count: munmap's start counted, unregister took KVM off the
    /// list before its end, and kvm_arch_destroy_vm's private-memslot delete waits in kvm_swap_active_memslots forever.
    /// </summary>
    [Fact]
    public void ADestroyWithoutTheCountFixupHangsInThePrivateMemslotDelete()
    {
        var r = Run(Breakage(kvm: m => new DestroyWithoutFixup(m)), "vm-close-vs-munmap");
        var hang = Assert.Single(r.Findings, f => f.Property == "S4");
        Assert.True(Text(hang).Contains(" kvm_swap_active_memslots\n") && Text(hang).Contains(" kvm_arch_destroy_vm\n"), Text(hang));
        Assert.Contains(r.Findings, f => f.Property == "L5");
    }

    // ---- vm-close-vs-aging: unregister racing a callback ----

    /// <summary>mmu_notifier_unregister without synchronize_srcu returns while KVM's clear_flush_young still runs.</summary>
    [Theory]
    [InlineData("vm-close-vs-aging")]
    [InlineData("vm-close-vs-munmap")]
    public void AnUnregisterWithoutItsGracePeriodReturnsUnderARunningCallback(string scenario)
    {
        var r = Run(Breakage(mm: k => new PlantedUnregister(k, UnregisterMistake.NoGracePeriod)), scenario);
        Assert.True(r.Findings.Any(f => f.Property == "S7"), Describe(r));
    }

    // ---- mrelease-vs-fault: process_mrelease as an invalidator ----

    /// <summary>A start that skips non-blockable ranges ("only the OOM killer's victims get those"): process_mrelease frees the page.</summary>
    [Theory]
    [InlineData("default")]
    [InlineData("rt")]
    public void ANonblockableStartThatSkipsTheZapFailsUnderProcessMrelease(string config)
        => Assert.Contains(Run(Breakage(kvm: m => new NonblockStartSkips(m)), "mrelease-vs-fault", KernelConfig.Parse(config)).Findings,
            f => f.Property == "S1");

    /// <summary>
    /// oom-enter-flag silences the reaper's RT splat (its flag is set by the OOM killer's oom_enter), but
    /// process_mrelease reaps without the OOM killer: KVM's start takes mn_invalidate_lock under non_block again.
    /// </summary>
    [Fact]
    public void TheOomKillerFlagLeavesProcessMreleaseSplattingOnRt()
    {
        var r = Run(OomEnterFlag.Proposal, "mrelease-vs-fault", KernelConfig.Rt);
        var splats = r.Findings.Where(f => f.Property == "S2").ToList();
        Assert.NotEmpty(splats);
        Assert.All(splats, splat => Assert.True(Text(splat).Contains(" process_mrelease\n") && Text(splat).Contains("non_block: 1, pid: 610, name: lmkd"), Text(splat)));
        Assert.DoesNotContain(Run(OomEnterFlag.Proposal, "oom-reap-vs-fault", KernelConfig.Rt).Findings, f => f.Property == "S2");
    }

    // ---- munmap-vs-dmirror: an interval notifier beside KVM ----

    /// <summary>The core returns after the itree: KVM's start is never called, its SPTE of gfn 0 outlives the page.</summary>
    [Fact]
    public void AStartThatStopsAfterTheIntervalTreeSkipsKvm()
    {
        var r = Run(Breakage(mm: k => new StartStopsAfterItree(k)), "munmap-vs-dmirror");
        Assert.True(r.Findings.Any(f => f.Property == "S1" && Text(f).Contains("kvm SPTE gfn 0x0")), Describe(r));
    }

    // ---- memslot-move-vs-munmap: the two swaps ----

    /// <summary>
    /// A MOVE with one swap (straight to the moved slot, then the zap): munmap's start looks up the new gfns and misses
    /// the old slot's SPTE, and the page is freed before the memslot zap reaches it.
    /// </summary>
    [Fact]
    public void AMoveWithoutTheInvalidStepMissesTheOldSlotsSpte()
        => Assert.Contains(Run(Breakage(kvm: m => new MoveInOneSwap(m)), "memslot-move-vs-munmap").Findings, f => f.Property == "S1");

    /// <summary>The last end forgets rcuwait_wake_up: the memslot update sleeps in kvm_swap_active_memslots for good.</summary>
    [Fact]
    public void ALostWakeUpLeavesTheMemslotUpdateAsleep()
    {
        var r = Run(Breakage(kvm: m => new NoWakeUp(m)), "memslot-move-vs-munmap");
        Assert.Contains(r.Findings, f => f.Property == "S4");
        Assert.Contains(r.Findings, f => f.Property == "L3");
    }

    // ---- the planted bugs ----

    /// <summary>kvm_handle_hva_range with flush_on_ret ignored.</summary>
    private sealed class NoFlushOnZap(Mm mm) : KvmMain(mm)
    {
        public override SimTask<(bool ret, bool found_memslot)> kvm_handle_hva_range(kvm k, kvm_mmu_notifier_range range)
            => base.kvm_handle_hva_range(k, range with { flush_on_ret = false });
    }

    /// <summary>kvm_unmap_gfn_range over [start, end - 1).</summary>
    private sealed class ZapOneShort(KvmMain kvm) : Mmu(kvm)
    {
        public override SimTask<bool> kvm_unmap_gfn_range(kvm k, long start, long end) => base.kvm_unmap_gfn_range(k, start, end - 1);
    }

    /// <summary>kvm_mmu_invalidate_range_add recording the latest range instead of widening to include it.</summary>
    private sealed class RangeAddOverwrites(Mm mm) : KvmMain(mm)
    {
        public override SimTask kvm_mmu_invalidate_range_add(kvm k, long start, long end)
        {
            k.mmu_invalidate_range_start.Value = start;
            k.mmu_invalidate_range_end.Value = end;
            return SimTask.CompletedTask;
        }
    }

    /// <summary>kvm_destroy_vm without the unbalanced-count fixup after mmu_notifier_unregister.</summary>
    private sealed class DestroyWithoutFixup(Mm mm) : KvmMain(mm)
    {
        public override async SimTask kvm_destroy_vm(kvm k)
        {
            using var fn = KernelFunction.Enter("kvm_destroy_vm");
            await this.mm.mmu_notifier_unregister(k.mmu_notifier, k.mm);
            await kvm_arch_destroy_vm(k);
            await cleanup_srcu_struct(k.srcu);
            await kvm_arch_free_vm(k);
            await this.mm.mmdrop(k.mm);
        }
    }

    /// <summary>kvm_mmu_notifier_invalidate_range_start returning 0 at once for a non-blockable range.</summary>
    private sealed class NonblockStartSkips(Mm mm) : KvmMain(mm)
    {
        public override SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
            => range.mmu_notifier_range_blockable() ? base.kvm_mmu_notifier_invalidate_range_start(mn, range) : SimTask<int>.FromValue(0);

        public override SimTask kvm_mmu_notifier_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range)
            => range.mmu_notifier_range_blockable() ? base.kvm_mmu_notifier_invalidate_range_end(mn, range) : SimTask.CompletedTask;
    }

    /// <summary>__mmu_notifier_invalidate_range_start that returns the itree's result without walking the classic list.</summary>
    private sealed class StartStopsAfterItree(K kernel) : Mm(kernel)
    {
        public override async SimTask<int> __mmu_notifier_invalidate_range_start(mmu_notifier_range range)
        {
            var subscriptions = range.mm.subscriptions();
            if (await subscriptions.has_itree.Read()) return await mn_itree_invalidate(subscriptions, range);
            return await base.__mmu_notifier_invalidate_range_start(range);
        }
    }

    /// <summary>kvm_set_memslot for a MOVE that swaps straight to the moved slot and zaps the old one afterwards.</summary>
    private sealed class MoveInOneSwap(Mm mm) : KvmMain(mm)
    {
        protected override async SimTask<int> kvm_set_memslot(kvm k, kvm_memory_slot old, kvm_memory_slot? @new, kvm_mr_change change)
        {
            if (change != kvm_mr_change.KVM_MR_MOVE) return await base.kvm_set_memslot(k, old, @new, change);
            await mutex_lock(k.slots_arch_lock);
            var active = await k.memslots.Read();
            await kvm_swap_active_memslots(k, active.kvm_replace_memslot(old, @new));
            await mmu.kvm_arch_flush_shadow_memslot(k, old);
            return 0;
        }
    }

    /// <summary>The end's count decrement without the rcuwait_wake_up of the memslot updater.</summary>
    private sealed class NoWakeUp(Mm mm) : KvmMain(mm)
    {
        protected override async SimTask mn_active_invalidate_count_dec(kvm k)
        {
            await spin_lock(k.mn_invalidate_lock);
            await k.mn_active_invalidate_count.Update(static c => c - 1);
            await spin_unlock(k.mn_invalidate_lock);
        }
    }
}
