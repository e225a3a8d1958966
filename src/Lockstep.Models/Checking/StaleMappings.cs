using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;

namespace Lockstep.Models.Checking;

/// <summary>
/// The S1 oracle (KERNEL-FACTS §6.1 "No stale secondary mapping"), hooked at the page free: when the last reference
/// to a page goes, each secondary MMU of the world is asked whether it still maps it. The questions read the secondary
/// page tables through scheduling points, so the explorer orders them against installing and zapping a mapping.
/// </summary>
public sealed class StaleMappings
{
    private readonly SharedList<Func<page, SimTask<string?>>> _mappers = new("S1 oracle: secondary MMUs");

    /// <summary>A secondary MMU: <paramref name="maps"/> says who maps a page (null: nobody).</summary>
    public async SimTask add(Func<page, SimTask<string?>> maps) => await _mappers.Add(maps);

    /// <summary>put_page freed <paramref name="p"/>.</summary>
    public async SimTask page_freed(page p)
    {
        foreach (var maps in await _mappers.Read())
            if (await maps(p) is { } who)
                Sim.Report(KernelLog.Warning("stale-secondary-mapping",
                    $"BUG: page {p} freed while a secondary MMU still maps it", $"{p.pfn}",
                    $"freed by {Api.current}\nstill mapped by: {who}"));
    }

    /// <summary>
    /// KVM as a secondary MMU: an SPTE, or a gfn->pfn cache KVM may still use. release (§3.5) zaps SPTEs but not gpcs;
    /// a gpc is only used from a vCPU ioctl, which needs the VM (a reference, users_count &gt; 0: the VM is not being
    /// destroyed) and the VMM's mm (mm_users &gt; 0), so a valid gpc counts only while both have users.
    /// </summary>
    public static async SimTask<string?> kvm_maps_page(kvm k, page p)
    {
        foreach (var (gfn, mapped) in await k.sptes.Read())
            if (mapped == p) return $"kvm SPTE gfn 0x{gfn:x} -> {p}";
        if (await k.mm.mm_users.Read() <= 0 || await k.users_count.Read() <= 0) return null;
        foreach (var gpc in await k.gpc_list.Read())
            if (await gpc.valid.Read() && await gpc.pfn.Read() == p) return $"kvm gfn_to_pfn_cache uhva 0x{gpc.uhva:x} -> {p}";
        return null;
    }

    /// <summary>A vCPU's TLB as a secondary mapping: a translation cached before the page went.</summary>
    public static async SimTask<string?> kvm_vcpu_maps_page(kvm_vcpu vcpu, page p)
    {
        foreach (var (gfn, q) in await vcpu.tlb.Read())
            if (q == p) return $"vCPU {vcpu.vcpu_id} TLB gfn 0x{gfn:x} -> {p}";
        return null;
    }
}
