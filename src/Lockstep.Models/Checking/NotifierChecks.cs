using Lockstep.Engine;
using Lockstep.Kernel;

namespace Lockstep.Models.mm;

/// <summary>
/// The checker's bookkeeping around the notifier core (not kernel state): S5's open ranges, S7's callback and mm_count
/// checks, called from mm/mmu_notifier.c at the seams that exist (each callback, each start and end, unregister's return).
/// </summary>
public partial class Mm
{
    /// <summary>S5 bookkeeping: starts that succeeded and still wait for their end, per subscriber and range.</summary>
    private readonly Dictionary<(mmu_notifier, ulong, ulong), int> _openRanges = new();

    /// <summary>
    /// S7 at quiescence (KERNEL-FACTS §6.1 "every mmgrab at registration is matched by exactly one mmdrop"): mm_count must
    /// equal the pins that legitimately remain — one for the mm_users while any is left, one per notifier the core still
    /// holds a pin for (registered classic subscribers, inserted interval notifiers), one per signal->oom_mm, plus
    /// <paramref name="pins_held_elsewhere"/> (pins the caller knows of, e.g. a live struct kvm's mmgrab). Any difference is
    /// reported, with the breakdown: more is a leaked mmgrab, fewer an extra mmdrop. Code outside mm/ that drops a
    /// notifier's registration pin itself (instead of via unregister/put) must count it in <paramref name="pins_held_elsewhere"/> as -1.
    /// </summary>
    public async SimTask mm_count_check(mm_struct mm, int pins_held_elsewhere = 0)
    {
        var users = await mm.mm_users.Read();
        var count = await mm.mm_count.Read();
        var expected = (users > 0 ? 1 : 0) + mm.notifier_pins + mm.oom_mm_pins + pins_held_elsewhere;
        if (count == expected) return;
        var breakdown = $"mm_count {count}, expected {expected}: mm_users {users} ({(users > 0 ? 1 : 0)}), notifier registrations {mm.notifier_pins}, "
            + $"signal->oom_mm {mm.oom_mm_pins}, held elsewhere {pins_held_elsewhere}";
        Sim.Report(count > expected
            ? KernelLog.Warning("mm-count-leak", $"BUG: mm_struct leaked: {count - expected} mmgrab without mmdrop", "mm_count", breakdown)
            : KernelLog.Warning("mm-count-extra-drop", $"BUG: {expected - count} mmdrop without mmgrab: the mm_struct is freed too early", "mm_count", breakdown));
    }

    // ---- the checks the core makes on every callback ----

    /// <summary>Invokes a subscriber's callback, checking S7 (the subscriber must still exist and be registered).</summary>
    protected async SimTask<T> Call<T>(mmu_notifier subscription, Func<mmu_notifier, SimTask<T>> callback)
    {
        CallbackEntry(subscription);
        var r = await callback(subscription);
        CallbackExit(subscription);
        return r;
    }

    protected async SimTask Call(mmu_notifier subscription, Func<mmu_notifier, SimTask> callback)
    {
        CallbackEntry(subscription);
        await callback(subscription);
        CallbackExit(subscription);
    }

    private static void CallbackEntry(mmu_notifier subscription)
    {
        if (subscription.freed) ReportUseAfterFree(subscription);
        else if (subscription.unregistered)
            Sim.Report(KernelLog.Warning("callback-after-unregister",
                $"BUG: {subscription.ops.GetType().Name} callback called after mmu_notifier_unregister returned", "callback"));
        subscription.callbacks_running++;
    }

    /// <summary>The SRCU list walk goes on from the node it just called: a node freed meanwhile is a use-after-free too.</summary>
    private static void CallbackExit(mmu_notifier subscription)
    {
        subscription.callbacks_running--;
        if (subscription.freed)
            Sim.Report(KernelLog.Warning("callback-after-free",
                $"BUG: KASAN: use-after-free: the subscription was freed while its {subscription.ops.GetType().Name} callback ran", "walk"));
    }

    /// <summary>
    /// S7 bookkeeping at the point mmu_notifier_unregister returns: from here on no callback of
    /// <paramref name="subscription"/> may run, and none may still be running.
    /// </summary>
    protected static void mmu_notifier_unregister_returns(mmu_notifier subscription)
    {
        subscription.unregistered = true;
        if (subscription.callbacks_running != 0)
            Sim.Report(KernelLog.Warning("unregister-while-callback-runs",
                $"BUG: mmu_notifier_unregister returned while a {subscription.ops.GetType().Name} callback still runs", "unregister"));
    }

    private static async SimTask<bool> CallInterval(mmu_interval_notifier interval_sub, Func<mmu_interval_notifier, SimTask<bool>> callback)
    {
        if (interval_sub.removed)
            Sim.Report(KernelLog.Warning("invalidate-after-remove",
                $"BUG: {interval_sub.ops.GetType().Name} invalidate called after mmu_interval_notifier_remove returned", "interval"));
        interval_sub.callbacks_running++;
        var ret = await callback(interval_sub);
        interval_sub.callbacks_running--;
        return ret;
    }

    private static void ReportUseAfterFree(mmu_notifier subscription)
        => Sim.Report(KernelLog.Warning("callback-after-free",
            $"BUG: KASAN: use-after-free: {subscription.ops.GetType().Name} callback on a freed subscription", "callback"));

    /// <summary>BUG_ON(condition): a check, so it reads state without a scheduling point.</summary>
    private static void BUG_ON(bool condition, string what)
    {
        if (condition)
            Sim.Report(KernelLog.Warning("bug-on", $"kernel BUG at mm/mmu_notifier.c: BUG_ON({what})", what));
    }

    private void OpenRange(mmu_notifier subscription, mmu_notifier_range range)
    {
        if (!subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_end)) return;
        var key = (subscription, range.start, range.end);
        _openRanges[key] = _openRanges.GetValueOrDefault(key) + 1;
    }

    private void CloseRange(mmu_notifier subscription, mmu_notifier_range range, bool compensating)
    {
        var key = (subscription, range.start, range.end);
        if (_openRanges.TryGetValue(key, out var n) && n > 0)
        {
            _openRanges[key] = n - 1;
            return;
        }
        if (compensating) return;   // a failed start's compensation: a subscriber whose start failed has no end by contract
        Sim.Report(KernelLog.Warning("end-without-start",
            $"WARNING: invalidate_range_end [{range.start:x}, {range.end:x}) delivered without a successful start",
            subscription.ops.GetType().Name));
    }
}
