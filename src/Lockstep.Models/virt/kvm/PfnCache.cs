using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;
using Lockstep.Models.arch.x86;

namespace Lockstep.Models.virt.kvm;

/// <summary>virt/kvm/pfncache.c (KERNEL-FACTS §3.5 step 4, §3.6).</summary>
public partial class KvmMain
{
    /// <summary>Invalidates every cache whose hva is in [start, end): gpc_lock, then each gpc->lock (read, upgraded to write).</summary>
    public virtual async SimTask gfn_to_pfn_cache_invalidate_start(kvm k, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        await spin_lock(k.gpc_lock);
        await foreach (var gpc in k.gpc_list)
        {
            await read_lock_irq(gpc.@lock);
            if (await gpc.valid.Read() && gpc.uhva >= start && gpc.uhva < end)
            {
                await read_unlock_irq(gpc.@lock);
                await write_lock_irq(gpc.@lock);
                if (await gpc.valid.Read() && gpc.uhva >= start && gpc.uhva < end) await gpc.valid.Write(false);
                await write_unlock_irq(gpc.@lock);
            }
            else await read_unlock_irq(gpc.@lock);
        }
        await spin_unlock(k.gpc_lock);
    }
}

/// <summary>The refresh side of virt/kvm/pfncache.c (KERNEL-FACTS §3.6).</summary>
public partial class KvmMain
{
    /// <summary>Bounded retries of a refresh that keeps colliding with invalidations.</summary>
    public const int GPC_RETRIES = 2;

    /// <summary>kvm_gpc_activate: publish a cache on kvm->gpc_list under gpc_lock (invalid until refreshed).</summary>
    public virtual async SimTask<gfn_to_pfn_cache> kvm_gpc_activate(kvm k, ulong uhva)
    {
        using var fn = KernelFunction.Enter();
        var gpc = new gfn_to_pfn_cache(this, uhva, null);
        await spin_lock(k.gpc_lock);
        await k.gpc_list.Add(gpc);
        await spin_unlock(k.gpc_lock);
        return gpc;
    }

    /// <summary>mmu_notifier_retry_cache: an active invalidation counts like in_progress, then the seq is compared.</summary>
    public virtual async SimTask<bool> mmu_notifier_retry_cache(kvm k, long mmu_seq)
        => await k.mn_active_invalidate_count.Read() != 0 || await k.mmu_invalidate_seq.Read() != mmu_seq;

    /// <summary>
    /// kvm_gpc_refresh → hva_to_pfn_retry: snapshot the seq, drop gpc->lock, resolve the page (GUP), retake the lock,
    /// retry while an invalidation ran or runs; then publish. The cache holds no page reference. Returns whether it is valid.
    /// </summary>
    public virtual async SimTask<bool> kvm_gpc_refresh(kvm k, gfn_to_pfn_cache gpc)
    {
        using var fn = KernelFunction.Enter();
        await write_lock_irq(gpc.@lock);
        for (var attempt = 0; attempt <= GPC_RETRIES; attempt++)
        {
            var mmu_seq = await k.mmu_invalidate_seq.Read();
            await write_unlock_irq(gpc.@lock);
            var page = await mmu.hva_to_pfn(k, gpc.uhva);
            await write_lock_irq(gpc.@lock);
            if (page == null) break;
            var retry = await mmu_notifier_retry_cache(k, mmu_seq);
            if (!retry)
            {
                await gpc.pfn.Write(page);
                await gpc.valid.Write(true);
            }
            await k.mm.allocator.put_page(page);   // kvm_release_page_clean: the cache keeps no reference
            if (!retry) break;
        }
        var valid = await gpc.valid.Read();
        await write_unlock_irq(gpc.@lock);
        return valid;
    }
}
