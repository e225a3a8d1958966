using System.Collections.Concurrent;
using System.Reflection;
using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using static Lockstep.Models.mm.wait_queue_head_t;

namespace Lockstep.Models.mm;

// include/linux/mmu_notifier.h: the types subscribers and the core share.

/// <summary>enum mmu_notifier_event (KERNEL-FACTS §1.1).</summary>
public enum mmu_notifier_event { MMU_NOTIFY_UNMAP, MMU_NOTIFY_CLEAR, MMU_NOTIFY_PROTECTION_VMA, MMU_NOTIFY_PROTECTION_PAGE, MMU_NOTIFY_SOFT_DIRTY, MMU_NOTIFY_RELEASE, MMU_NOTIFY_MIGRATE, MMU_NOTIFY_EXCLUSIVE }

/// <summary>struct mmu_notifier_range (§1.1).</summary>
public sealed class mmu_notifier_range
{
    public const uint MMU_NOTIFIER_RANGE_BLOCKABLE = 1;

    [PerTask("a local of the invalidating function (struct mmu_notifier_range range on its stack)")]
    public mm_struct mm = null!;

    [PerTask("a local of the invalidating function")]
    public ulong start, end;

    [PerTask("a local of the invalidating function; the core sets BLOCKABLE in it")]
    public uint flags;

    [PerTask("a local of the invalidating function")]
    public mmu_notifier_event @event;

    public static mmu_notifier_range mmu_notifier_range_init(mmu_notifier_event @event, uint flags, mm_struct mm, ulong start, ulong end)
        => new() { @event = @event, flags = flags, mm = mm, start = start, end = end };

    public bool mmu_notifier_range_blockable() => (flags & MMU_NOTIFIER_RANGE_BLOCKABLE) != 0;

    public override string ToString() => $"[{start:x}, {end:x}) {@event}{(mmu_notifier_range_blockable() ? "" : " non-blockable")}";
}

/// <summary>
/// struct mmu_notifier_ops (§1.2). Every callback is optional: a subscriber overrides what it implements, and
/// <see cref="Implements"/> (the core's "ops->x != NULL") is derived from those overrides. A patch that adds an op
/// declares it as an interface the subscriber implements; the core's walk tests <c>subscription.ops is thatop</c>.
/// </summary>
public abstract class mmu_notifier_ops
{
    [Flags]
    public enum Op
    {
        release = 1, clear_flush_young = 2, clear_young = 4, test_young = 8, invalidate_range_start = 16, invalidate_range_end = 32,
        arch_invalidate_secondary_tlbs = 64, alloc_notifier = 128, free_notifier = 256,
    }

    private static readonly ConcurrentDictionary<Type, Op> Overridden = new();

    /// <summary>The callbacks this subscriber's type overrides (a test double may state its own table instead).</summary>
    public virtual Op Implements => Overridden.GetOrAdd(GetType(), static type =>
    {
        var ops = (Op)0;
        foreach (var op in Enum.GetValues<Op>())
            if (type.GetMethod(op.ToString(), BindingFlags.Public | BindingFlags.Instance)!.DeclaringType != typeof(mmu_notifier_ops))
                ops |= op;
        return ops;
    });

    public virtual bool Has(Op op) => (Implements & op) != 0;

    public virtual SimTask release(mmu_notifier subscription, mm_struct mm) => SimTask.CompletedTask;
    public virtual SimTask<int> clear_flush_young(mmu_notifier subscription, mm_struct mm, ulong start, ulong end) => Zero();
    public virtual SimTask<int> clear_young(mmu_notifier subscription, mm_struct mm, ulong start, ulong end) => Zero();
    public virtual SimTask<int> test_young(mmu_notifier subscription, mm_struct mm, ulong address) => Zero();
    public virtual SimTask<int> invalidate_range_start(mmu_notifier subscription, mmu_notifier_range range) => Zero();
    public virtual SimTask invalidate_range_end(mmu_notifier subscription, mmu_notifier_range range) => SimTask.CompletedTask;
    public virtual SimTask arch_invalidate_secondary_tlbs(mmu_notifier subscription, mm_struct mm, ulong start, ulong end) => SimTask.CompletedTask;

    /// <summary>get/put API only (§1.5): allocate the structure embedding a <c>struct mmu_notifier</c>, or ERR_PTR.</summary>
    public virtual SimTask<mmu_notifier> alloc_notifier(mm_struct mm) => SimTask<mmu_notifier>.FromValue(mmu_notifier.ERR_PTR(-Mm.ENOMEM));

    /// <summary>get/put API only: free it; runs from the SRCU callback after the last put and must not sleep.</summary>
    public virtual SimTask free_notifier(mmu_notifier subscription) => SimTask.CompletedTask;

    private static SimTask<int> Zero() => SimTask<int>.FromValue(0);
}

/// <summary>
/// struct mmu_notifier (§1.2). The subscriber builds it with its ops (kvm->mmu_notifier.ops = &amp;kvm_mmu_notifier_ops;
/// for the get API, mmu_notifier_get_locked sets ops on what alloc_notifier returned: the model's alloc_notifier
/// builds it with them). What the core writes while other tasks may read it is engine-visible.
/// </summary>
public sealed class mmu_notifier
{
    /// <param name="container">The structure that embeds it (container_of), e.g. the struct kvm.</param>
    /// <param name="name">How the trace names it, e.g. "kvm->mmu_notifier".</param>
    public mmu_notifier(mmu_notifier_ops ops, object? container = null, string name = "subscription")
    {
        this.ops = ops;
        this.container = container;
        this.name = name;
        mm = new Shared<mm_struct?>($"{name}.mm");
        users = new Shared<int>($"{name}.users");
        hlist = new hlist_node(name);
    }

    private mmu_notifier(int err) : this(null!, name: "ERR_PTR") => this.err = err;

    public readonly mmu_notifier_ops ops;

    /// <summary>The structure that embeds this one (container_of).</summary>
    public readonly object? container;

    public readonly string name;

    /// <summary>subscription->mm, set by __mmu_notifier_register.</summary>
    public readonly Shared<mm_struct?> mm;

    /// <summary>get/put count, under subscriptions->lock (set to 1 by the registration before the node is linked).</summary>
    public readonly Shared<int> users;

    /// <summary>The node on subscriptions->list.</summary>
    public readonly hlist_node hlist;

    /// <summary>Non-zero for an ERR_PTR value (the get API returns one instead of a subscription).</summary>
    public readonly int err;

    public static mmu_notifier ERR_PTR(int error) => new(error);

    public static bool IS_ERR(mmu_notifier? p) => p is { err: not 0 };

    public static int PTR_ERR(mmu_notifier p) => p.err;

    public override string ToString() => name;
}

/// <summary>
/// struct mmu_interval_notifier_ops (§1.9): invalidate returns false only if it would have to sleep in a
/// non-blockable range; it must call mmu_interval_set_seq(sub, cur_seq) under the driver's own lock.
/// </summary>
public abstract class mmu_interval_notifier_ops
{
    public abstract SimTask<bool> invalidate(mmu_interval_notifier interval_sub, mmu_notifier_range range, ulong cur_seq);
}

/// <summary>struct mmu_interval_notifier (§1.9). Its interval and ops live in its node of the mm's itree (<see cref="interval_tree_node"/>).</summary>
public sealed class mmu_interval_notifier
{
    public mmu_interval_notifier(string name = "interval_sub", object? container = null)
    {
        this.name = name;
        this.container = container;
        invalidate_seq = new Shared<ulong>($"{name}->invalidate_seq");
        mm = new Shared<mm_struct?>($"{name}->mm");
    }

    public readonly string name;

    /// <summary>The structure that embeds this one (container_of).</summary>
    public readonly object? container;

    /// <summary>READ_ONCE/WRITE_ONCE: the collision-retry sequence (odd values only).</summary>
    public readonly Shared<ulong> invalidate_seq;

    /// <summary>interval_sub->mm, set by the insert.</summary>
    public readonly Shared<mm_struct?> mm;

    public override string ToString() => name;
}

/// <summary>
/// interval_sub->interval_tree with the ops beside it, as __mmu_interval_notifier_insert fills them in: an interval
/// [start, last] (the last address inside it). The itree holds these; RB_EMPTY_NODE is "not in the itree".
/// </summary>
public sealed record interval_tree_node(ulong start, ulong last, mmu_interval_notifier sub, mmu_interval_notifier_ops ops)
{
    public override string ToString() => $"{sub} [{start:x}, {last:x}]";
}
