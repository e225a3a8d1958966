using Lockstep.Engine;
using Lockstep.Kernel;

namespace Lockstep.Models.mm;

/// <summary>kernel/fork.c: mm_count (mmgrab/mmdrop) and mm_users (mmput).</summary>
public partial class Mm
{
    public virtual async SimTask mmgrab(mm_struct mm) => await mm.mm_count.Update(static c => c + 1);

    public virtual async SimTask mmdrop(mm_struct mm)
    {
        var before = await mm.mm_count.Update(static c => c - 1);
        if (before <= 0)
            Sim.Report(KernelLog.Warning("mmdrop-underflow", "BUG: mmdrop of an mm_struct whose mm_count is already 0", "mm_count"));
        else if (before == 1 && await mm.notifier_subscriptions.Read() is { } subs && !await subs.list.hlist_empty())
            Sim.Report(KernelLog.Warning("subscriptions-destroy", "kernel BUG at mm/mmu_notifier.c: __mmu_notifier_subscriptions_destroy with subscribers left", "destroy"));
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
}
