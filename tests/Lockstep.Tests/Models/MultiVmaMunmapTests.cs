using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.mm;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;
using static Lockstep.Models.Scenarios.Tasks;
using K = Lockstep.Kernel.Kernel;

namespace Lockstep.Tests.Models;

/// <summary>
/// A user's world whose munmap crosses two VMAs and the hole between them: guest RAM in two VMAs, [0x1000, 0x1002) as
/// memslot 0 (gfns 0–1) and [0x3000, 0x3002) as memslot 1 (gfns 0x10–0x11); vCPU 0 has run the guest on gfn 0 before
/// the start, and faults gfn 0x10 in while qemu munmaps [0x1000, 0x3002). Mainline invalidates the whole range once
/// (mm/memory.c unmap_vmas) and passes; an unmap_vmas whose range stops at the first VMA's end frees the second VMA's
/// pages under KVM's SPTE (S1).
/// </summary>
public class MultiVmaMunmapTests
{
    private static readonly Scenario AcrossTwoVmas = new("munmap-across-two-vmas",
        "qemu munmaps guest RAM in two VMAs and the hole between them while vCPU 0 faults a gfn in the second",
        WorldSpec.Builder()
            .Vma(0x1000, pages: 2)
            .Vma(0x3000, pages: 2)
            .Vm(vm => vm.Memslot(base_gfn: 0, npages: 2, hva: 0x1000).Memslot(base_gfn: 0x10, npages: 2, hva: 0x3000).Faulted(vcpu: 0, 0))
            .Build(),
        [Qemu(w => w.mm_code.do_munmap(w.mm, 0x1000, 0x3002), "L5"), Vcpu(0, [0x10])]);

    private static ScenarioRun Run(Proposal proposal, KernelConfig config)
    {
        var registry = Registry.WithBuiltIns();
        if (registry.Proposals.All(p => p.Id != proposal.Id)) registry.Register(proposal);
        registry.Register(AcrossTwoVmas);
        return Suite.Run(registry, proposal, config, AcrossTwoVmas, new DporStrategy(), new ExplorationOptions { MaxExecutions = 100_000 });
    }

    private static string Describe(ScenarioRun r)
        => $"{r.ModelError} {r.Exploration.Executions} executions, exhaustive {r.Exploration.Exhaustive}: " + string.Join("; ", r.Findings.Select(f => $"{f.Property} {f.Violation}"));

    /// <summary>Mainline: no model error, exhaustive and clean, on !RT and on RT (munmap's invalidation is blockable).</summary>
    [Theory]
    [InlineData("default")]
    [InlineData("rt")]
    public void MainlinePassesAMunmapAcrossTwoVmas(string config)
    {
        var r = Run(Mainline.Proposal, KernelConfig.Parse(config));
        Assert.Null(r.ModelError);
        Assert.True(r.Exploration.Exhaustive, Describe(r));
        Assert.Empty(r.Findings);
    }

    /// <summary>The range ends with the first VMA: KVM never zaps gfn 0x10, whose page munmap then frees (S1).</summary>
    [Fact]
    public void AnInvalidationOfTheFirstVmaOnlyLeavesTheSecondVmasSpte()
    {
        var r = Run(new Proposal("first-vma-only", "test", "test") { Mm = k => new RangeOverTheFirstVmaOnly(k) }, KernelConfig.Default);
        Assert.Null(r.ModelError);
        Assert.True(r.Findings.Any(f => f.Property == "S1" && ((KernelReport)f.Violation).Text.Contains("gfn 0x10")), Describe(r));
        Assert.DoesNotContain(r.Findings, f => f.Property == "S1" && ((KernelReport)f.Violation).Text.Contains("gfn 0x0 ->"));
    }

    /// <summary>unmap_vmas with its mmu_notifier range over [start_addr, the first VMA's end): every VMA is still zapped.</summary>
    private sealed class RangeOverTheFirstVmaOnly(K kernel) : Mm(kernel)
    {
        public override async SimTask unmap_vmas(mmu_gather tlb, IReadOnlyList<vm_area_struct> vmas, ulong start_addr, ulong end_addr)
        {
            using var fn = KernelFunction.Enter("unmap_vmas");
            var range = mmu_notifier_range.mmu_notifier_range_init(mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, tlb.mm!, start_addr, Math.Min(end_addr, vmas[0].vm_end));
            await mmu_notifier_invalidate_range_start(range);
            foreach (var vma in vmas) await unmap_single_vma(tlb, vma, start_addr, end_addr);
            await mmu_notifier_invalidate_range_end(range);
        }
    }
}
