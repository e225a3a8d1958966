using Lockstep.Engine;
using Lockstep.Kernel;

namespace Lockstep.Models.mm;

/// <summary>mm/vmscan.c: reclaim of one folio.</summary>
public partial class Mm
{
    /// <summary>
    /// shrink_folio_list for one anonymous folio that reclaim isolated from the LRU (folio_isolate_lru took a reference)
    /// and will not keep: try_to_unmap, then its last reference goes and the page is freed. What lies between in the
    /// kernel (folio_check_references, add_to_swap, pageout) is left out: folio_referenced is modelled on its own and
    /// the swap-out touches no notifier.
    /// </summary>
    public virtual async SimTask shrink_folio_list(mm_struct mm, ulong address)
    {
        using var fn = KernelFunction.Enter();
        var vma = mm.find_vma(address);
        var p = vma == null ? null : await vma.ptep(address).Read();
        if (p == null || await p.refcount.Update(static r => r > 0 ? r + 1 : r) == 0) return;   // folio_isolate_lru (folio_try_get)
        await try_to_unmap(mm, address);
        await mm.allocator.put_page(p);   // free_unref_folios: the isolation's reference was the last
    }
}
