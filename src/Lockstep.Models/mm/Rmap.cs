using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.mm;

/// <summary>mm/rmap.c: unmapping a folio for reclaim.</summary>
public partial class Mm
{
    /// <summary>
    /// try_to_unmap for the page mapped at <paramref name="address"/>: rmap_walk_anon holds the anon_vma lock for read
    /// (anon_vma_lock_read) and calls try_to_unmap_one for every VMA mapping the folio (one in the model).
    /// </summary>
    public virtual async SimTask try_to_unmap(mm_struct mm, ulong address)
    {
        using var fn = KernelFunction.Enter();
        await down_read(mm.anon_vma_lock);
        var vma = mm.find_vma(address);
        if (vma != null) await try_to_unmap_one(mm, vma, address);
        await up_read(mm.anon_vma_lock);
    }

    /// <summary>
    /// try_to_unmap_one: a blockable MMU_NOTIFY_CLEAR invalidation of the folio's range around the page table walk that,
    /// with the PTL held, clears the PTE (ptep_clear_flush) and drops the mapping's reference (folio_remove_rmap_pte,
    /// folio_put). The caller holds a reference of its own, so the page is not freed here.
    /// </summary>
    public virtual async SimTask<bool> try_to_unmap_one(mm_struct mm, vm_area_struct vma, ulong address)
    {
        using var fn = KernelFunction.Enter();
        var range = mmu_notifier_range.mmu_notifier_range_init(mmu_notifier_event.MMU_NOTIFY_CLEAR, 0, mm, address, address + 1);
        await mmu_notifier_invalidate_range_start(range);
        var ptl = mm.pte_lockptr(address);
        await spin_lock(ptl);   // page_vma_mapped_walk
        var old = await vma.ptep(address).Update(static _ => null);   // ptep_clear_flush
        if (old != null) await mm.allocator.put_page(old);
        await spin_unlock(ptl);   // page_vma_mapped_walk_done
        await mmu_notifier_invalidate_range_end(range);
        return true;
    }
}
