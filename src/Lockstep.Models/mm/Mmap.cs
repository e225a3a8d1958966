using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.mm;

/// <summary>mm/mmap.c: munmap and exit_mmap (KERNEL-FACTS §2.7).</summary>
public partial class Mm
{
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
}
