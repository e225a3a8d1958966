using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.mm;

/// <summary>
/// struct mmu_gather (include/asm-generic/tlb.h): the pages an unmap collected, freed by tlb_flush_mmu /
/// tlb_finish_mmu. <see cref="max"/> is how many it can hold before __tlb_remove_page reports it full.
/// </summary>
public sealed class mmu_gather
{
    public mmu_gather() { }

    public mmu_gather(mm_struct mm, int max)
    {
        this.mm = mm;
        this.max = max;
    }

    public readonly mm_struct? mm;
    public readonly int max = int.MaxValue;

    [PerTask("struct mmu_gather tlb is a local of the unmapping function")]
    public readonly List<page> pages = new();
}

/// <summary>mm/mmap.c, mm/vma.c, mm/memory.c, mm/mmu_gather.c, mm/rmap.c: unmapping, munmap, exit_mmap, aging (KERNEL-FACTS §1.2, §2.7).</summary>
public partial class Mm
{
    /// <summary>
    /// Pages one mmu_gather holds before it must flush. In the kernel the on-stack bundle holds MMU_GATHER_BUNDLE (8)
    /// pages and more need a batch page from __get_free_page(GFP_NOWAIT), which fails under memory pressure — the OOM
    /// reaper's situation; then __tlb_remove_page reports the gather full and zap_pte_range flushes it, freeing the pages
    /// gathered so far mid-range, before invalidate_range_end (the contract of §1.2 allows freeing any time after start
    /// returns). The default never fills up (batch allocation succeeds); a model with small VMAs sets e.g. 1 to
    /// exercise the early free.
    /// </summary>
    public int mmu_gather_capacity { get; init; } = int.MaxValue;

    /// <summary>tlb_gather_mmu(&amp;tlb, mm).</summary>
    public virtual mmu_gather tlb_gather_mmu(mm_struct mm) => new(mm, mmu_gather_capacity);

    /// <summary>__tlb_remove_page: gathers the page; true means the gather is full and must be flushed now.</summary>
    protected virtual bool __tlb_remove_page(mmu_gather tlb, page p)
    {
        tlb.pages.Add(p);
        return tlb.pages.Count >= tlb.max;
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

    /// <summary>tlb_flush_mmu: flushes the TLBs and frees the gathered pages (tlb_batch_pages_flush) — the instant S1 is checked.</summary>
    public virtual async SimTask tlb_flush_mmu(mm_struct mm, mmu_gather tlb)
    {
        using var fn = KernelFunction.Enter();
        foreach (var p in tlb.pages) await mm.allocator.put_page(p);
        tlb.pages.Clear();
    }

    /// <summary>tlb_finish_mmu: the final tlb_flush_mmu (frees what is left in the gather).</summary>
    public virtual async SimTask tlb_finish_mmu(mm_struct mm, mmu_gather tlb)
    {
        using var fn = KernelFunction.Enter();
        await tlb_flush_mmu(mm, tlb);
    }

    /// <summary>
    /// munmap of [start, end) as vm_munmap runs it (mm/mmap.c __vm_munmap(start, len, unlock = false)):
    /// mmap_write_lock_killable, do_vmi_munmap, mmap_write_unlock — the mmap lock is held for write throughout. The
    /// munmap syscall passes unlock = true, and vms_complete_munmap_vmas then downgrades the lock to read before it
    /// clears the PTEs; the model does not downgrade. The model's tasks are never killed, so the killable lock
    /// always succeeds.
    /// </summary>
    public virtual async SimTask do_munmap(mm_struct mm, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        await down_write(mm.mmap_lock);
        await do_vmi_munmap(mm, start, end);
        await up_write(mm.mmap_lock);
    }

    /// <summary>
    /// do_vmi_munmap (mm/vma.c): an empty range is -EINVAL; the first VMA overlapping [start, end) is vma_find(vmi, end);
    /// with none there is nothing to unmap and it returns 0 without an invalidation.
    /// </summary>
    public virtual async SimTask<int> do_vmi_munmap(mm_struct mm, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        if (end <= start) return -EINVAL;
        var vma = mm.vmas.Where(v => v.vm_end > start && v.vm_start < end).MinBy(v => v.vm_start);
        if (vma == null) return 0;
        return await do_vmi_align_munmap(mm, vma, start, end);
    }

    /// <summary>do_vmi_align_munmap (mm/vma.c): gather the VMAs of the range, then vms_complete_munmap_vmas unmaps them.</summary>
    public virtual async SimTask<int> do_vmi_align_munmap(mm_struct mm, vm_area_struct vma, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        var detached = vms_gather_munmap_vmas(mm, vma, start, end);
        await vms_complete_munmap_vmas(mm, detached, start, end);
        return 0;
    }

    /// <summary>
    /// vms_gather_munmap_vmas (mm/vma.c): from <paramref name="vma"/> on, every VMA the range overlaps, in address order.
    /// The kernel splits a VMA the range covers in part (__split_vma) and detaches the pieces inside it; the model keeps
    /// every VMA whole and in <see cref="mm_struct.vmas"/>, as it never models the VMA tree's removal: unmap_single_vma
    /// clips each VMA to the range, and the part of a VMA outside the range keeps its pages, as the split-off VMA would.
    /// </summary>
    protected virtual IReadOnlyList<vm_area_struct> vms_gather_munmap_vmas(mm_struct mm, vm_area_struct vma, ulong start, ulong end)
        => mm.vmas.Where(v => v.vm_start >= vma.vm_start && v.vm_start < end).OrderBy(v => v.vm_start).ToList();

    /// <summary>
    /// vms_complete_munmap_vmas (mm/vma.c), its vms_clear_ptes: tlb_gather_mmu, unmap_vmas over the munmap range
    /// (vms->start, vms->end), free_pgtables (the model has no page-table pages), tlb_finish_mmu. Then the kernel
    /// removes the VMAs (remove_vma); the model keeps them, their PTEs cleared.
    /// </summary>
    protected virtual async SimTask vms_complete_munmap_vmas(mm_struct mm, IReadOnlyList<vm_area_struct> detached, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        var tlb = tlb_gather_mmu(mm);
        await unmap_vmas(tlb, detached, start, end);
        await tlb_finish_mmu(mm, tlb);
    }

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

    /// <summary>§2.7 in its order: release, unmap under the read lock, MMF_OOM_SKIP, free under the write lock.</summary>
    public virtual async SimTask exit_mmap(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        await mmu_notifier_release(mm);
        await down_read(mm.mmap_lock);
        var tlb = tlb_gather_mmu(mm);   // tlb_gather_mmu_fullmm
        foreach (var vma in mm.vmas)
        {
            var range = mmu_notifier_range.mmu_notifier_range_init(mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, mm, vma.vm_start, vma.vm_end);
            await mmu_notifier_invalidate_range_start(range);
            await unmap_page_range(tlb, vma, vma.vm_start, vma.vm_end);
            await mmu_notifier_invalidate_range_end(range);
        }
        await up_read(mm.mmap_lock);
        await mm.flags.Update(static f => f | MmFlags.MMF_OOM_SKIP);
        await down_write(mm.mmap_lock);
        await tlb_finish_mmu(mm, tlb);
        await up_write(mm.mmap_lock);
    }

    /// <summary>mmput: the last user tears the address space down.</summary>
    public virtual async SimTask mmput(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        if (await mm.mm_users.Update(static u => u - 1) == 1)
        {
            await exit_mmap(mm);
            await mmdrop(mm);
        }
    }

    // ---- mm/vma.c: excluding every rmap walker (§1.5 step 3) ----

    /// <summary>
    /// mm_take_all_locks: with the mmap lock held for write, take every rmap lock of the mm for write (every anon_vma's
    /// root rwsem and every i_mmap_rwsem; the model has one anon_vma per mm), so no rmap walker — and so no notifier
    /// method called from one — runs during registration. The kernel fails with -EINTR on a fatal signal; the model's
    /// registering tasks have none.
    /// </summary>
    public virtual async SimTask<int> mm_take_all_locks(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        lockdep_assert_held(mm.mmap_lock);   // mmap_assert_write_locked(mm)
        await down_write(mm.anon_vma_lock);   // vm_lock_anon_vma: down_write_nest_lock(&anon_vma->root->rwsem, &mm->mmap_lock)
        return 0;
    }

    public virtual async SimTask mm_drop_all_locks(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        await up_write(mm.anon_vma_lock);
    }

    // ---- mm/rmap.c: the reclaim/aging path (§1.2 clear_flush_young) ----

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
