using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;

namespace Lockstep.Models.Proposals;

/// <summary>
/// A design to check: the kernel as it is, or a patch. A patch derives from the code it changes (<see cref="Mm"/> for
/// mm/, <see cref="KvmMain"/> for virt/kvm, <see cref="Lockstep.Models.arch.x86.kvm.Mmu"/> for arch/x86/kvm/mmu) and
/// overrides only what it changes; the factories below build the patched code for one run.
/// </summary>
public sealed record Proposal(string Id, string Title, string Source)
{
    /// <summary>mm/ as patched.</summary>
    public Func<Kernel.Kernel, Mm> Mm { get; init; } = static k => new Mm(k);

    /// <summary>virt/kvm/ as patched; it builds its arch MMU itself (<see cref="KvmMain.kvm_arch_mmu"/>).</summary>
    public Func<Mm, KvmMain> Kvm { get; init; } = static m => new KvmMain(m);
}

/// <summary>mainline: the kernel as it is (KERNEL-FACTS §6.2).</summary>
public static class Mainline
{
    public static readonly Proposal Proposal = new("mainline", "the kernel as it is", "KERNEL-FACTS §1–§3");
}
