using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.virt.kvm;

/// <summary>virt/kvm/pfncache.c (KERNEL-FACTS §3.5 step 4, §3.6).</summary>
public partial class KvmMain
{
    /// <summary>Invalidates every cache whose hva is in [start, end): gpc_lock, then each gpc->lock (read, upgraded to write).</summary>
    public static async SimTask gfn_to_pfn_cache_invalidate_start(kvm k, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        await spin_lock(k.gpc_lock);
        foreach (var gpc in k.gpc_list)
        {
            await read_lock_irq(gpc.@lock);
            if (gpc.valid && gpc.uhva >= start && gpc.uhva < end)
            {
                await read_unlock_irq(gpc.@lock);
                await write_lock_irq(gpc.@lock);
                if (gpc.valid && gpc.uhva >= start && gpc.uhva < end) gpc.valid = false;
                await write_unlock_irq(gpc.@lock);
            }
            else await read_unlock_irq(gpc.@lock);
        }
        await spin_unlock(k.gpc_lock);
    }
}
