namespace Lockstep.Models;

/// <summary>The property catalogue of KERNEL-FACTS §6.1.</summary>
public static class Properties
{
    public static readonly IReadOnlyDictionary<string, string> All = new Dictionary<string, string>
    {
        ["S1"] = "No stale secondary mapping: no page is freed while an SPTE or a valid gfn->pfn cache maps it",
        ["S2"] = "No sleep in atomic or non-blocking context",
        ["S3"] = "Lockdep clean",
        ["S4"] = "No deadlock",
        ["S5"] = "Notifier contract: no failing start with an end; every end pairs with a successful start",
        ["S6"] = "Counter integrity: mn_active_invalidate_count and mmu_invalidate_in_progress balanced, never below 0",
        ["S7"] = "Lifetime: no callback after free; mmgrab/mmdrop balanced",
        ["L1"] = "Reaper progress: oom_reap_task finishes",
        ["L2"] = "Reaping effectiveness: every eligible VMA is unmapped",
        ["L3"] = "Memslot update progress: the updater is woken",
        ["L4"] = "vCPU progress: no invalidation left open when everything is quiet",
        ["L5"] = "Teardown progress: exit_mmap, unregister and kvm_destroy_vm complete",
    };

    public static readonly IReadOnlyList<string> Ids = All.Keys.ToList();
}
