using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using K = Lockstep.Kernel.Kernel;

namespace Lockstep.Tests.MmTests;

/// <summary>The one mistake <see cref="PlantedUnregister"/> makes in mmu_notifier_unregister.</summary>
public enum UnregisterMistake
{
    /// <summary>hlist_del_init instead of hlist_del_init_rcu: a walker standing on the node loses its next pointer.</summary>
    HlistDelInit,
    /// <summary>No hlist_del_init_rcu at all: the subscription stays on the list.</summary>
    NoUnhook,
    /// <summary>No synchronize_srcu: it returns while a callback may still run.</summary>
    NoGracePeriod,
}

/// <summary>mmu_notifier_unregister (mm/mmu_notifier.c) with one planted mistake, for checkers that must catch it.</summary>
public sealed class PlantedUnregister(K kernel, UnregisterMistake mistake) : Mm(kernel)
{
    public override async SimTask mmu_notifier_unregister(mmu_notifier subscription, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        if (!await hlist_head.hlist_unhashed(subscription))
        {
            var id = await srcu_read_lock(srcu);
            if (subscription.ops.Has(mmu_notifier_ops.Op.release)) await Call(subscription, s => s.ops.release(s, mm));
            await srcu_read_unlock(srcu, id);
            var subscriptions = mm.subscriptions();
            await spin_lock(subscriptions.@lock);
            if (mistake == UnregisterMistake.HlistDelInit) await subscriptions.list.hlist_del_init(subscription);
            else if (mistake != UnregisterMistake.NoUnhook) await subscriptions.list.hlist_del_init_rcu(subscription);
            await spin_unlock(subscriptions.@lock);
        }
        if (mistake != UnregisterMistake.NoGracePeriod) await synchronize_srcu(srcu);
        await lifetimes.unregister_returns(subscription);
        await mmdrop(mm);
    }
}
