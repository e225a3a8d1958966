using System.Collections.Immutable;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;

namespace Lockstep.Models.Checking;

/// <summary>
/// The S7 oracle (KERNEL-FACTS §6.1 "Lifetime"), beside the notifier structs and not in them: which subscriptions
/// and interval notifiers are registered, whether each was unregistered (removed) or freed, how many of its callbacks
/// run, the mm_count pins signal->oom_mm holds, and the nodes whose next a non-RCU removal cleared. mm/ calls it at
/// the seams it has (every callback, registration's mmgrab, unregister's return, the free, insert and remove, the
/// list walk); all of it is engine-visible state, so the explorer orders those seams against each other.
/// </summary>
public sealed class Lifetimes
{
    private const int Live = 0, Unregistered = 1, Freed = 2;

    /// <summary>
    /// A subscription's lifetime (<see cref="Live"/>, <see cref="Unregistered"/>, <see cref="Freed"/>) and the
    /// callbacks of it that run. Entering and leaving a callback commute (<see cref="Shared{T}.Commute"/>): only their
    /// order against unregister's return and the free matters.
    /// </summary>
    private sealed class Subscription(mmu_notifier subscription, mm_struct mm)
    {
        public readonly mm_struct mm = mm;
        public readonly Shared<int> state = new($"S7 oracle: {subscription} lifetime");
        public readonly Shared<int> running = new($"S7 oracle: {subscription} callbacks running");
    }

    private sealed class Interval(mmu_interval_notifier interval_sub, mm_struct mm)
    {
        public readonly mm_struct mm = mm;
        public readonly Shared<bool> removed = new($"S7 oracle: {interval_sub} removed");
        public readonly Shared<int> running = new($"S7 oracle: {interval_sub} invalidates running");
    }

    private readonly Shared<ImmutableDictionary<mmu_notifier, Subscription>> _subscriptions =
        new("S7 oracle: subscriptions", ImmutableDictionary<mmu_notifier, Subscription>.Empty);

    private readonly Shared<ImmutableDictionary<mmu_interval_notifier, Interval>> _intervals =
        new("S7 oracle: interval notifiers", ImmutableDictionary<mmu_interval_notifier, Interval>.Empty);

    private readonly Shared<ImmutableDictionary<mm_struct, int>> _oom_mm_pins = new("S7 oracle: signal->oom_mm pins", ImmutableDictionary<mm_struct, int>.Empty);

    /// <summary>Nodes whose next hlist_del_init cleared, with the successor they had then.</summary>
    private readonly Shared<ImmutableDictionary<mmu_notifier, mmu_notifier>> _cut = new("S7 oracle: cleared next pointers", ImmutableDictionary<mmu_notifier, mmu_notifier>.Empty);

    // ---- classic subscriptions ----

    /// <summary>__mmu_notifier_register took its mm_count pin for <paramref name="subscription"/>.</summary>
    public async SimTask registered(mmu_notifier subscription, mm_struct mm)
    {
        var record = new Subscription(subscription, mm);
        await _subscriptions.Update(d => d.SetItem(subscription, record));
    }

    /// <summary>
    /// The record of <paramref name="subscription"/>, read without a scheduling point: it was added before the node was
    /// linked (hlist_add_head_rcu), and whoever calls into a subscription found it on the list or registered it, so the
    /// record is there for it in every order; other subscriptions' records do not change the answer.
    /// </summary>
    private Subscription? Of(mmu_notifier subscription) => _subscriptions.Peek.GetValueOrDefault(subscription);

    /// <summary>The same for an interval notifier: its record is added before its node enters the itree.</summary>
    private Interval? Of(mmu_interval_notifier interval_sub) => _intervals.Peek.GetValueOrDefault(interval_sub);

    /// <summary>The core is about to call one of the subscription's callbacks: it must exist and be registered.</summary>
    public async SimTask callback_entry(mmu_notifier subscription)
    {
        if (Of(subscription) is not { } s) return;
        await s.running.Commute(static n => n + 1);
        var state = await s.state.Read();
        if (state == Freed) ReportUseAfterFree(subscription, "callback on a freed subscription", "callback");
        else if (state == Unregistered)
            Sim.Report(KernelLog.Warning("callback-after-unregister",
                $"BUG: {subscription.ops.GetType().Name} callback called after mmu_notifier_unregister returned", "callback"));
    }

    /// <summary>The callback returned; the SRCU walk goes on from this node, so a node freed meanwhile is a use-after-free too.</summary>
    public async SimTask callback_exit(mmu_notifier subscription)
    {
        if (Of(subscription) is not { } s) return;
        await s.running.Commute(static n => n - 1);
        if (await s.state.Read() == Freed)
            ReportUseAfterFree(subscription, $"the subscription was freed while its {subscription.ops.GetType().Name} callback ran", "walk");
    }

    /// <summary>mmu_notifier_unregister returns: from here on no callback may run, and none may still be running.</summary>
    public async SimTask unregister_returns(mmu_notifier subscription)
    {
        if (Of(subscription) is not { } s) return;
        await s.state.Update(static state => state == Live ? Unregistered : state);
        if (await s.running.Read() != 0)
            Sim.Report(KernelLog.Warning("unregister-while-callback-runs",
                $"BUG: mmu_notifier_unregister returned while a {subscription.ops.GetType().Name} callback still runs", "unregister"));
    }

    /// <summary>The memory of the subscription is freed (free_notifier, or the kfree of the structure embedding it).</summary>
    public async SimTask freed(mmu_notifier subscription)
    {
        if (Of(subscription) is { } s) await s.state.Write(Freed);
    }

    private static void ReportUseAfterFree(mmu_notifier subscription, string what, string detail)
        => Sim.Report(KernelLog.Warning("callback-after-free",
            $"BUG: KASAN: use-after-free: {(what.StartsWith("the") ? what : $"{subscription.ops.GetType().Name} {what}")}", detail));

    // ---- interval notifiers ----

    /// <summary>__mmu_interval_notifier_insert took its mm_count pin.</summary>
    public async SimTask interval_inserted(mmu_interval_notifier interval_sub, mm_struct mm)
    {
        var record = new Interval(interval_sub, mm);
        await _intervals.Update(d => d.SetItem(interval_sub, record));
    }

    /// <summary>Calls an interval notifier's invalidate, checking it was not removed.</summary>
    public async SimTask<bool> interval_callback(interval_tree_node node, Func<SimTask<bool>> callback)
    {
        if (Of(node.sub) is not { } i) return await callback();
        await i.running.Commute(static n => n + 1);
        if (await i.removed.Read())
            Sim.Report(KernelLog.Warning("invalidate-after-remove",
                $"BUG: {node.ops.GetType().Name} invalidate called after mmu_interval_notifier_remove returned", "interval"));
        var ret = await callback();
        await i.running.Commute(static n => n - 1);
        return ret;
    }

    /// <summary>mmu_interval_notifier_remove returns: its invalidate is neither running nor called again.</summary>
    public async SimTask interval_removed(mmu_interval_notifier interval_sub)
    {
        if (Of(interval_sub) is not { } i) return;
        await i.removed.Write(true);
        if (await i.running.Read() != 0)
            Sim.Report(KernelLog.Warning("remove-while-invalidate-runs",
                "BUG: mmu_interval_notifier_remove returned while the notifier's invalidate callback still runs", "remove"));
    }

    // ---- the list walk ----

    /// <summary>hlist_del_init cleared <paramref name="node"/>'s next, which was <paramref name="successor"/>.</summary>
    public async SimTask next_cleared(mmu_notifier node, mmu_notifier successor) => await _cut.Update(d => d.SetItem(node, successor));

    /// <summary>
    /// A walk found no next after <paramref name="node"/>. If a non-RCU removal cleared that next while the successor it
    /// had is still linked, the walk was cut short and skipped a live subscriber (§6.1 S7: a removal must let readers
    /// positioned on the node continue).
    /// </summary>
    public async SimTask walk_ended_at(mmu_notifier node)
    {
        if (!(await _cut.Read()).TryGetValue(node, out var skipped) || !await skipped.hlist.pprev.Read()) return;
        Sim.Report(KernelLog.Warning("hlist-walk-cut-short",
            $"BUG: an SRCU walk of subscriptions->list stopped at {node}: hlist_del_init() cleared its next under the walk, skipping {skipped}",
            $"{node}",
            $"{node} was removed with hlist_del_init() (not hlist_del_init_rcu()) while this task's walk stood on it; {skipped} and everything after it were not called"));
    }

    // ---- mm_count (kernel/fork.c mmgrab/mmdrop) ----

    /// <summary>mark_oom_victim pinned the mm for signal->oom_mm (held as long as the signal struct).</summary>
    public async SimTask oom_mm_pinned(mm_struct mm) => await _oom_mm_pins.Update(d => d.SetItem(mm, d.GetValueOrDefault(mm) + 1));

    /// <summary>
    /// S7 at quiescence (§6.1 "every mmgrab at registration is matched by exactly one mmdrop"): mm_count must equal the
    /// pins that legitimately remain — one for the mm_users while any is left, one per subscription registered and
    /// neither unregistered nor freed, one per interval notifier inserted and not removed, one per signal->oom_mm, plus
    /// <paramref name="pins_held_elsewhere"/> (pins the caller knows of, e.g. each live struct kvm's mmgrab). More is a
    /// leaked mmgrab, fewer an extra mmdrop; either is reported with the breakdown.
    /// </summary>
    public async SimTask mm_count_check(mm_struct mm, int pins_held_elsewhere = 0)
    {
        var users = await mm.mm_users.Read();
        var count = await mm.mm_count.Read();
        var registrations = 0;
        foreach (var s in (await _subscriptions.Read()).Values)
            if (s.mm == mm && await s.state.Read() == Live) registrations++;
        var intervals = 0;
        foreach (var i in (await _intervals.Read()).Values)
            if (i.mm == mm && !await i.removed.Read()) intervals++;
        var oom_mm = (await _oom_mm_pins.Read()).GetValueOrDefault(mm);
        var expected = (users > 0 ? 1 : 0) + registrations + intervals + oom_mm + pins_held_elsewhere;
        if (count == expected) return;
        var breakdown = $"mm_count {count}, expected {expected}: mm_users {users} ({(users > 0 ? 1 : 0)}), notifier registrations {registrations + intervals}, "
            + $"signal->oom_mm {oom_mm}, held elsewhere {pins_held_elsewhere}";
        Sim.Report(count > expected
            ? KernelLog.Warning("mm-count-leak", $"BUG: mm_struct leaked: {count - expected} mmgrab without mmdrop", "mm_count", breakdown)
            : KernelLog.Warning("mm-count-extra-drop", $"BUG: {expected - count} mmdrop without mmgrab: the mm_struct is freed too early", "mm_count", breakdown));
    }
}
