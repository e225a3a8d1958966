using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;

namespace Lockstep.Models.Proposals;

/// <summary>A design to check: the kernel as it is, or a patch to its mm/ and KVM code.</summary>
public sealed record Proposal(string Id, string Title, string Source, Func<Kernel.Kernel, Mm> NewMm, Func<Mm, KvmMain> NewKvm);

public static class Catalog
{
    public static readonly IReadOnlyList<Proposal> All = new[]
    {
        Mainline.Proposal,
        RawMnInvalidateLock.Proposal,
        AtomicCount.Proposal,
        DeferNonblockWork.ReturnZero,
        DeferNonblockWork.ReturnEagain,
        OomEnterUnregister.Proposal,
        OomEnterFlag.Proposal,
        OomEnterCallSrcu.Proposal,
        OomEnterZapDead.Proposal,
    };

    public static Proposal Find(string id) => All.FirstOrDefault(p => p.Id == id)
        ?? throw new ArgumentException($"unknown proposal '{id}' (known: {string.Join(", ", All.Select(p => p.Id))})");
}

/// <summary>mainline: the kernel as it is (KERNEL-FACTS §6.2).</summary>
public static class Mainline
{
    public static readonly Proposal Proposal = new("mainline", "the kernel as it is", "KERNEL-FACTS §1–§3",
        k => new Mm(k), m => new KvmMain(m));
}
