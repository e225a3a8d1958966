using Lockstep.Models.arch.x86;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;

namespace Lockstep.Models.Proposals;

/// <summary>
/// A design to check: the kernel as it is, or a patch. A patch derives from the code it changes (<see cref="Mm"/> for
/// mm/, <see cref="KvmMain"/> for virt/kvm, <see cref="Lockstep.Models.arch.x86.Mmu"/> for arch/x86/kvm/mmu) and
/// overrides only what it changes; the factories below build the patched code for one run.
/// </summary>
public sealed record Proposal(string Id, string Title, string Source)
{
    /// <summary>mm/ as patched.</summary>
    public Func<Kernel.Kernel, Mm> Mm { get; init; } = static k => new Mm(k);

    /// <summary>virt/kvm/ as patched.</summary>
    public Func<Mm, KvmMain> Kvm { get; init; } = static m => new KvmMain(m);

    /// <summary>arch/x86/kvm/mmu as patched (null: as it is).</summary>
    public Func<KvmMain, Mmu>? Mmu { get; init; }

    /// <summary>
    /// The step budget of each of its scenario runs when the command line sets none (null: the default,
    /// <c>--step-budget</c>'s). For a design whose executions are too long and too many to explore completely, a smaller
    /// budget that its runs, marked bounded, spend honestly.
    /// </summary>
    public long? StepBudget { get; init; }

    /// <summary>The patched code for one execution.</summary>
    public (Mm mm_code, KvmMain kvm_code) Build(Kernel.Kernel kernel)
    {
        var mm_code = Mm(kernel);
        BuildingMmu = Mmu;
        try
        {
            return (mm_code, Kvm(mm_code));
        }
        finally
        {
            BuildingMmu = null;
        }
    }

    /// <summary>The arch MMU factory of the proposal being built: the KvmMain constructor (a patch's too) takes its mmu from it.</summary>
    [ThreadStatic] internal static Func<KvmMain, Mmu>? BuildingMmu;
}

/// <summary>mainline: the kernel as it is (KERNEL-FACTS §6.2).</summary>
public static class Mainline
{
    public static readonly Proposal Proposal = new("mainline", "the kernel as it is", "KERNEL-FACTS §1–§3");
}
