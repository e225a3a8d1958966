using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.mm;

/// <summary>struct mmu_gather: the pages an unmap collected, freed by tlb_finish_mmu.</summary>
public sealed class mmu_gather
{
    public readonly List<page> pages = new();
}

/// <summary>mm/mmap.c and mm/memory.c: unmapping, munmap, exit_mmap (KERNEL-FACTS §2.7).</summary>
public partial class Mm
{
    /// <summary>Clears the PTEs of [start, end) and gathers their pages.</summary>
    public async SimTask unmap_page_range(mmu_gather tlb, vm_area_struct vma, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        for (var hva = start; hva < end; hva++)
        {
            var old = await vma.pte[hva - vma.vm_start].Update(static _ => null);   // ptep_get_and_clear
            if (old != null) tlb.pages.Add(old);
        }
    }

    /// <summary>Flushes TLBs and frees the gathered pages: the instant S1 is checked.</summary>
    public async SimTask tlb_finish_mmu(mm_struct mm, mmu_gather tlb)
    {
        using var fn = KernelFunction.Enter();
        foreach (var p in tlb.pages) await mm.allocator.put_page(p);
        tlb.pages.Clear();
    }

    /// <summary>munmap of [start, end): a blockable invalidation under the mmap write lock.</summary>
    public async SimTask do_munmap(mm_struct mm, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        await down_write(mm.mmap_lock);
        var vma = mm.find_vma(start)!;
        var range = mmu_notifier_range.mmu_notifier_range_init(mmu_notifier_event.MMU_NOTIFY_UNMAP, 0, mm, start, end);
        var tlb = new mmu_gather();
        await mmu_notifier_invalidate_range_start(range);
        await unmap_page_range(tlb, vma, start, end);
        await mmu_notifier_invalidate_range_end(range);
        await tlb_finish_mmu(mm, tlb);
        await up_write(mm.mmap_lock);
    }

    /// <summary>§2.7 in its order: release, unmap under the read lock, MMF_OOM_SKIP, free under the write lock.</summary>
    public async SimTask exit_mmap(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        await mmu_notifier_release(mm);
        await down_read(mm.mmap_lock);
        var tlb = new mmu_gather();
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
    public async SimTask mmput(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        if (await mm.mm_users.Update(static u => u - 1) == 1)
        {
            await exit_mmap(mm);
            await mmdrop(mm);
        }
    }
}
