using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.mm;

/// <summary>mm/memory.c: zapping the PTEs of a range (KERNEL-FACTS §1.2).</summary>
public partial class Mm
{
    /// <summary>
    /// unmap_vmas (mm/memory.c): one MMU_NOTIFY_UNMAP range over [start_addr, end_addr) — the munmap range as asked,
    /// holes between the VMAs included — its start, each VMA zapped in turn (unmap_single_vma), then its end. The pages
    /// are freed after, by the caller's tlb_finish_mmu (or earlier by a full gather, §1.2).
    /// </summary>
    public virtual async SimTask unmap_vmas(mmu_gather tlb, IReadOnlyList<vm_area_struct> vmas, ulong start_addr, ulong end_addr)
    {
        using var fn = KernelFunction.Enter();
        var range = mmu_notifier_range.mmu_notifier_range_init(mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, tlb.mm!, start_addr, end_addr);
        await mmu_notifier_invalidate_range_start(range);
        foreach (var vma in vmas) await unmap_single_vma(tlb, vma, start_addr, end_addr);
        await mmu_notifier_invalidate_range_end(range);
    }

    /// <summary>unmap_single_vma (mm/memory.c): [start_addr, end_addr) clipped to the VMA, nothing if they do not meet; then unmap_page_range.</summary>
    protected virtual async SimTask unmap_single_vma(mmu_gather tlb, vm_area_struct vma, ulong start_addr, ulong end_addr)
    {
        using var fn = KernelFunction.Enter();
        var start = Math.Max(vma.vm_start, start_addr);
        if (start >= vma.vm_end) return;
        var end = Math.Min(vma.vm_end, end_addr);
        if (end <= vma.vm_start) return;
        await unmap_page_range(tlb, vma, start, end);
    }

    /// <summary>zap_pte_range as unmap_page_range reaches it: clears the PTEs of [start, end) and gathers their pages; a full gather is flushed at once.</summary>
    public virtual async SimTask unmap_page_range(mmu_gather tlb, vm_area_struct vma, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        for (var hva = start; hva < end; hva++)
        {
            var old = await vma.ptep(hva).Update(static _ => null);   // ptep_get_and_clear
            if (old != null && __tlb_remove_page(tlb, old))
                await tlb_flush_mmu(tlb.mm!, tlb);   // force_flush: after the PTL is dropped
        }
    }
}
