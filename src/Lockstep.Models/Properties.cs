namespace Lockstep.Models;

/// <summary>
/// A property of KERNEL-FACTS §6.1: its id, what it says, the kinds of kernel reports that violate it, and the kernel
/// file a finding of it points to when no modelled function is on the reporting stack.
/// </summary>
public sealed record Property(string Id, string Text, IReadOnlyList<string> Warnings, string KernelFile);

/// <summary>The property table: the one place that maps kinds of kernel reports to properties.</summary>
public static class Properties
{
    public static readonly IReadOnlyList<Property> Table = new Property[]
    {
        new("S1", "No stale secondary mapping: no page is freed while an SPTE or a valid gfn->pfn cache maps it",
            ["stale-secondary-mapping", "guest-touched-freed-page", "spte-in-open-invalidation"], "mm/mmu_notifier.c"),
        new("S2", "No sleep in atomic or non-blocking context",
            ["might-sleep", "scheduling-while-atomic", "scheduling-in-non-block", "non-block-underflow"], "kernel/sched/core.c"),
        new("S3", "Lockdep clean",
            ["lockdep-recursive", "lockdep-circular", "invalid-wait-context", "bad-unlock", "held-at-exit", "assert-held"], "kernel/locking/lockdep.c"),
        new("S4", "No deadlock", ["hung-task"], "kernel/hung_task.c"),
        new("S5", "Notifier contract: no failing start with an end; every end pairs with a successful start, every start with an end",
            ["end-without-start", "start-without-end", "failing-start-has-end", "itree-invalidate-failed-blockable", "secondary-tlbs-and-start-end", "start-failed-blockable"],
            "mm/mmu_notifier.c"),
        new("S6", "Counter integrity: mn_active_invalidate_count and mmu_invalidate_in_progress balanced, never below 0",
            ["count-leaked", "count-underflow", "destroy-in-progress", "destroy-with-waiter", "detach-in-progress", "detach-with-waiter",
             "in-progress-leaked", "in-progress-no-range", "in-progress-underflow", "itree-frozen-while-idle", "itree-ranges-underflow",
             "range-add-without-begin"], "virt/kvm/kvm_main.c"),
        new("S7", "Lifetime: no callback after free; mmgrab/mmdrop balanced",
            ["bug-on", "callback-after-free", "callback-after-unregister", "insert-without-mmget", "invalidate-after-remove", "hlist-walk-cut-short", "kvm-use-after-free", "list-corruption",
             "mm-count-extra-drop", "mm-count-leak", "mmdrop-underflow", "put-without-users", "remove-not-inserted",
             "remove-while-invalidate-runs", "srcu-cleanup-active", "subscriptions-destroy", "unregister-while-callback-runs"], "mm/mmu_notifier.c"),
        new("L1", "Reaper progress: oom_reap_task finishes", [], "mm/oom_kill.c"),
        new("L2", "Reaping effectiveness: every eligible VMA is unmapped", ["vma-not-reaped"], "mm/oom_kill.c"),
        new("L3", "Memslot update progress: the updater is woken", [], "virt/kvm/kvm_main.c"),
        new("L4", "vCPU progress: no invalidation left open when everything is quiet", ["count-leaked", "in-progress-leaked", "livelock"], "virt/kvm/kvm_main.c"),
        new("L5", "Teardown progress: exit_mmap, unregister and kvm_destroy_vm complete", [], "mm/mmap.c"),
    };

    public static readonly IReadOnlyList<string> Ids = Table.Select(p => p.Id).ToList();

    public static readonly IReadOnlyDictionary<string, string> All = Table.ToDictionary(p => p.Id, p => p.Text);

    public static Property Get(string id) => Table.First(p => p.Id == id);

    /// <summary>The properties a kind of kernel report violates (none: the kind is not in the table).</summary>
    public static IReadOnlyList<string> Of(string kind) => ByWarning.TryGetValue(kind, out var ids) ? ids : Array.Empty<string>();

    private static readonly Dictionary<string, string[]> ByWarning = Table
        .SelectMany(p => p.Warnings.Select(w => (w, p.Id))).GroupBy(x => x.w).ToDictionary(g => g.Key, g => g.Select(x => x.Id).ToArray());
}
