using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.mm;

/// <summary>mm/vma.c: unmapping the VMAs of a range (munmap), and excluding every rmap walker.</summary>
public partial class Mm
{
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

    // excluding every rmap walker (§1.5 step 3)

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
}
