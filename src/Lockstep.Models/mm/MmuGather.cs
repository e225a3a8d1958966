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

/// <summary>mm/mmu_gather.c: gathering the pages an unmap cleared and freeing them after the TLB flush (KERNEL-FACTS §1.2).</summary>
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
}
