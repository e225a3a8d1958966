using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using static Lockstep.Kernel.Srcu;

namespace Lockstep.Models.Proposals;

/// <summary>The op the v1 oom_enter patch adds to struct mmu_notifier_ops (include/linux/mmu_notifier.h).</summary>
/// <remarks>+	void (*oom_enter)(struct mmu_notifier *subscription, struct mm_struct *mm);</remarks>
public interface mmu_notifier_oom_enter_op
{
    SimTask oom_enter(mmu_notifier subscription, mm_struct mm);
}

/// <summary>
/// The mm side of the v1 oom_enter patch (Mar 28 2026), part 1: the new op and __mmu_notifier_oom_enter walking the
/// subscriptions under the global SRCU.
/// </summary>
public class MmWithOomEnter : Mm
{
    public MmWithOomEnter(Kernel.Kernel kernel) : base(kernel) { }

    public virtual async SimTask mmu_notifier_oom_enter(mm_struct mm)
    {
        if (await mm.mm_has_notifiers()) await __mmu_notifier_oom_enter(mm);
    }

    public virtual async SimTask __mmu_notifier_oom_enter(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        var id = await srcu_read_lock(srcu);
        await foreach (var subscription in mm.subscriptions().list)
            if (subscription.ops is mmu_notifier_oom_enter_op op)   // if (subscription->ops->oom_enter)
                await Call(subscription, s => op.oom_enter(s, mm));
        await srcu_read_unlock(srcu, id);
    }
}

/// <summary>Part 2 of the v1 patch: the call from __oom_kill_process right after mmgrab(mm), task_lock held.</summary>
/// <remarks>
/// @@ -947,6 +947,9 @@ static void __oom_kill_process(struct task_struct *victim, const char *message)
///  	mmgrab(mm);
/// +	/* Notify MMU notifiers about the OOM event */
/// +	mmu_notifier_oom_enter(mm);
///  	/* Raise event before sending signal: task reaper must see this */
///  	count_vm_event(OOM_KILL);
/// </remarks>
public sealed class OomEnterInOomKill : MmWithOomEnter
{
    public OomEnterInOomKill(Kernel.Kernel kernel) : base(kernel) { }

    protected override async SimTask count_oom_kill_events(mm_struct mm)
    {
        await mmu_notifier_oom_enter(mm);
        await base.count_oom_kill_events(mm);
    }
}
