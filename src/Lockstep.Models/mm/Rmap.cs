using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.mm;

/// <summary>mm/rmap.c: unmapping a folio for reclaim, and aging it (KERNEL-FACTS §1.2).</summary>
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

    // the reclaim/aging path (§1.2 clear_flush_young)

    /// <summary>
    /// folio_referenced for the page mapped at <paramref name="address"/> (shrink_folio_list → folio_check_references):
    /// the rmap walk holds the anon_vma lock for read (folio_lock_anon_vma_read) and calls folio_referenced_one for
    /// every VMA mapping the folio (one in the model). Returns how many mappings were referenced.
    /// </summary>
    public virtual async SimTask<int> folio_referenced(mm_struct mm, ulong address)
    {
        using var fn = KernelFunction.Enter();
        var referenced = 0;
        await down_read(mm.anon_vma_lock);
        var vma = mm.find_vma(address);
        if (vma != null && await folio_referenced_one(mm, vma, address)) referenced++;
        await up_read(mm.anon_vma_lock);
        return referenced;
    }

    /// <summary>
    /// folio_referenced_one: page_vma_mapped_walk finds the PTE and takes its PTL (pte_offset_map_lock); with the PTL
    /// held, ptep_clear_flush_young_notify; page_vma_mapped_walk_done drops the PTL.
    /// </summary>
    public virtual async SimTask<bool> folio_referenced_one(mm_struct mm, vm_area_struct vma, ulong address)
    {
        using var fn = KernelFunction.Enter();
        var ptl = mm.pte_lockptr(address);
        await spin_lock(ptl);
        var referenced = false;
        if (await vma.ptep(address).Read() != null)   // still mapped here
            referenced = await ptep_clear_flush_young_notify(mm, vma, address);
        await spin_unlock(ptl);
        return referenced;
    }

    /// <summary>
    /// ptep_clear_flush_young_notify (include/linux/mmu_notifier.h), caller holding the PTL: test-and-clear the primary
    /// PTE's accessed bit, then mmu_notifier_clear_flush_young(mm, address, address + PAGE_SIZE), ORed. So every
    /// subscriber's clear_flush_young runs under a spinlock_t: atomic on !RT, a sleeping lock held on PREEMPT_RT.
    /// </summary>
    public virtual async SimTask<bool> ptep_clear_flush_young_notify(mm_struct mm, vm_area_struct vma, ulong address)
    {
        using var fn = KernelFunction.Enter();
        lockdep_assert_held(mm.pte_lockptr(address));
        var young = ptep_clear_flush_young(vma, address);
        young |= await mmu_notifier_clear_flush_young(mm, address, address + 1) != 0;
        return young;
    }

    /// <summary>The model keeps no accessed bit: a present PTE counts as recently used.</summary>
    protected virtual bool ptep_clear_flush_young(vm_area_struct vma, ulong address) => true;
}
