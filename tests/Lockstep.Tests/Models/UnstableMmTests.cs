using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.mm;
using Lockstep.Models.Scenarios;
using static Lockstep.Models.Scenarios.Tasks;

namespace Lockstep.Tests.Models;

/// <summary>
/// MMF_UNSTABLE refuses only the establishing of new PTEs (include/linux/oom.h check_stable_address_space, KERNEL-FACTS
/// §8): once the reaper has set it, a vCPU fault still maps a page of a VMA the reaper has not reached, and fails on a
/// VMA it has reaped. The world has two guest-RAM VMAs, each behind its own memslot; the reaper walks the higher one
/// (gfn 1) first.
/// </summary>
public class UnstableMmTests
{
    private static readonly WorldSpec TwoVmas = WorldSpec.Builder()
        .Vma(0x1000, pages: 1).Vma(0x2000, pages: 1)
        .Vm(vm => vm.Memslot(base_gfn: 0, npages: 1, hva: 0x1000).Memslot(base_gfn: 1, npages: 1, hva: 0x2000))
        .Build();

    /// <summary>
    /// A vCPU that waits for <paramref name="ready"/>, then faults <paramref name="gfn"/> and runs the guest on it; a
    /// fault that maps is reported (as "mapped", and the execution goes on to check S1).
    /// </summary>
    private static TaskSpec FaultOnce(long gfn, Func<World, SimTask> ready) => new("CPU 0/KVM", 4993, async w =>
    {
        await ready(w);
        if (!await w.kvm_code.mmu.kvm_tdp_page_fault(w.kvm, gfn)) return;
        Sim.Report(new Violation("mapped", $"gfn {gfn} mapped on an MMF_UNSTABLE mm"));
        await w.kvm_code.mmu.vcpu_enter_guest(w.vms[0].vcpus[0], gfn);
    }) { InVmm = true, Vcpu = (0, 0) };

    private static async SimTask Unstable(World w) => await w.mm.flags.WaitUntil(static f => (f & MmFlags.MMF_UNSTABLE) != 0);

    private static ExplorationResult Explore(TaskSpec vcpu)
    {
        var registry = Registry.WithBuiltIns();
        var scenario = new Scenario("unstable", "test", TwoVmas, [OomKiller(), OomReaper(), vcpu]);
        var kernel = new Lockstep.Kernel.Kernel(KernelConfig.Default);
        return Explorer.Explore(scenario.Model(kernel, registry.Proposal("mainline")), new DporStrategy(),
            new ExplorationOptions { StopOnFirstViolation = false });
    }

    [Fact]
    public void AFaultOnAVmaTheReaperHasNotReachedStillMapsItsPage()
    {
        var r = Explore(FaultOnce(0, Unstable));
        Assert.True(r.Exhaustive);
        Assert.Equal(["gfn 0 mapped on an MMF_UNSTABLE mm"], r.Violations.Select(v => v.Message).Distinct());   // and nothing else: S1 holds
    }

    [Fact]
    public void AFaultOnAReapedVmaFails()
    {
        var r = Explore(FaultOnce(1, async w =>
        {
            await Unstable(w);
            await w.vmas[1].pte[0].WaitUntil(static p => p == null);   // the reaper has unmapped gfn 1's page
        }));
        Assert.True(r.Exhaustive);
        Assert.Empty(r.Violations);
    }
}
