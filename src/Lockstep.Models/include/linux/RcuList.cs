using Lockstep.Engine;
using Lockstep.Models.Checking;

namespace Lockstep.Models.mm;

// include/linux/list.h and rculist.h: the hlist of struct mmu_notifier that subscriptions->list is.

/// <summary>struct hlist_node of a struct mmu_notifier: next, and pprev (NULL: unhashed).</summary>
public sealed class hlist_node
{
    internal hlist_node(string name)
    {
        next = new Shared<mmu_notifier?>($"{name}.hlist.next");
        pprev = new Shared<bool>($"{name}.hlist.pprev");
    }

    /// <summary>Where a walker standing on this node goes on to.</summary>
    public readonly Shared<mmu_notifier?> next;

    /// <summary>pprev != NULL: the node is linked; hlist_unhashed() is its negation.</summary>
    public readonly Shared<bool> pprev;
}

/// <summary>
/// struct hlist_head of struct mmu_notifier, changed under its owner's lock and walked under SRCU. A walk
/// (<c>await foreach</c>, hlist_for_each_entry_rcu) reads head->first, then each node's next after the loop body: a
/// node removed while a walker stands on it is left with its next intact by <see cref="hlist_del_init_rcu"/>, so the
/// walker goes on, while <see cref="hlist_del_init"/> clears it (INIT_HLIST_NODE) and the walker stops there, skipping
/// whatever followed (KERNEL-FACTS §6.3 P5 (ii), §8). The <see cref="Lifetimes"/> oracle reports such a cut walk.
/// </summary>
public sealed class hlist_head
{
    private readonly Lifetimes _lifetimes;

    public hlist_head(string name, Lifetimes lifetimes)
    {
        first = new Shared<mmu_notifier?>($"{name}.first");
        _lifetimes = lifetimes;
    }

    public readonly Shared<mmu_notifier?> first;

    public async SimTask<bool> hlist_empty() => await first.Read() == null;

    public static async SimTask<bool> hlist_unhashed(mmu_notifier n) => !await n.hlist.pprev.Read();

    /// <summary>hlist_add_head_rcu (the caller holds the list's lock).</summary>
    public async SimTask hlist_add_head_rcu(mmu_notifier n)
    {
        await n.hlist.next.Write(await first.Read());
        await n.hlist.pprev.Write(true);
        await first.Write(n);   // rcu_assign_pointer: walkers see the node from here on
    }

    /// <summary>hlist_del_init_rcu (the caller holds the list's lock): unlinked and unhashed, its next left for walkers on it.</summary>
    public async SimTask hlist_del_init_rcu(mmu_notifier n)
    {
        if (!await n.hlist.pprev.Read()) return;   // already unhashed: nothing to do
        await __hlist_del(n);
        await n.hlist.pprev.Write(false);
    }

    /// <summary>hlist_del_init (the caller holds the list's lock): unlinked, and next and pprev cleared (INIT_HLIST_NODE).</summary>
    public async SimTask hlist_del_init(mmu_notifier n)
    {
        if (!await n.hlist.pprev.Read()) return;
        var successor = await __hlist_del(n);
        await n.hlist.next.Write(null);
        await n.hlist.pprev.Write(false);
        if (successor != null) await _lifetimes.next_cleared(n, successor);
    }

    /// <summary>*pprev = next: the predecessor (or the head) points past <paramref name="n"/>. Returns n's next.</summary>
    private async SimTask<mmu_notifier?> __hlist_del(mmu_notifier n)
    {
        var next = await n.hlist.next.Read();
        var at = await first.Read();
        if (at == n)
        {
            await first.Write(next);
            return next;
        }
        while (at != null)
        {
            var after = await at.hlist.next.Read();
            if (after == n)
            {
                await at.hlist.next.Write(next);
                break;
            }
            at = after;
        }
        return next;
    }

    /// <summary>hlist_for_each_entry_rcu: <c>await foreach (var subscription in subscriptions.list)</c>, under srcu_read_lock.</summary>
    public Walk GetAsyncEnumerator() => new(this);

    public sealed class Walk
    {
        private readonly hlist_head _head;

        [PerTask("the walker's own cursor (a local of the function that walks)")]
        private bool _started;

        internal Walk(hlist_head head) => _head = head;

        [field: PerTask("the walker's own cursor")]
        public mmu_notifier Current { get; private set; } = null!;

        public async SimTask<bool> MoveNextAsync()
        {
            var next = _started ? await Current.hlist.next.Read() : await _head.first.Read();
            if (next == null && _started) await _head._lifetimes.walk_ended_at(Current);
            _started = true;
            if (next == null) return false;
            Current = next;
            return true;
        }
    }
}
