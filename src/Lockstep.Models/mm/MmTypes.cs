using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.mm;

/// <summary>
/// wait_queue_head_t with wait_event / wake_up_all (include/linux/wait.h), as mm/mmu_notifier.c uses it for
/// subscriptions->wq (KERNEL-FACTS §1.3, §1.9). The queue is a wake-up counter: a waiter samples it
/// (prepare_to_wait), tests its condition, then sleeps until the counter moves, so a wake-up between the test and the
/// sleep is not lost and a missing wake_up_all is a real hang.
/// </summary>
public sealed class wait_queue_head_t
{
    public wait_queue_head_t(string name) => wakeups = new Shared<int>(name);

    internal readonly Shared<int> wakeups;

    /// <summary>wait_event(wq, condition): might_sleep(); if (condition) break; then sleep until woken and re-test.</summary>
    public static async SimTask wait_event(wait_queue_head_t wq, Func<SimTask<bool>> condition)
    {
        might_sleep();
        while (true)
        {
            var seen = await wq.wakeups.Read();   // prepare_to_wait_event
            if (await condition()) return;
            Sim.Note($"wait_event({wq.wakeups.Name})");
            await wq.wakeups.WaitUntil(w => w != seen);   // schedule() until wake_up_all
        }
    }

    public static async SimTask wake_up_all(wait_queue_head_t wq) => await wq.wakeups.Update(static w => w + 1);
}

/// <summary>A physical page. Freed when its last reference goes; S1 is checked at that instant (KERNEL-FACTS §6.1).</summary>
public sealed class page
{
    internal page(int pfn) => this.pfn = pfn;

    public readonly int pfn;

    /// <summary>Mapping + GUP references; shared because the reaper and a vCPU fault race on it.</summary>
    internal Shared<int>? _refcount;

    public Shared<int> refcount => _refcount!;

    public bool freed;

    public override string ToString() => $"pfn 0x{pfn:x}";
}

/// <summary>A page allocator whose pages know whether they are free, so "freed while still mapped" is checkable.</summary>
public sealed class PageAllocator
{
    private int _next = 0x1000;

    /// <summary>Who must be asked, when a page is freed, whether they still map it (secondary MMUs register here).</summary>
    public readonly List<Func<page, string?>> secondary_mappers = new();

    /// <summary>
    /// The same question for a secondary MMU whose page table is <see cref="Shared{T}"/> state: it is asked with a
    /// scheduling point (reading that state), so the explorer sees the race between installing a mapping and the free
    /// and tries both orders. (A plain oracle runs as part of the free's step and can hide that order.)
    /// </summary>
    public readonly List<Func<page, SimTask<string?>>> secondary_mapping_checks = new();

    public page alloc_page()
    {
        var p = new page(_next++);
        p._refcount = new Shared<int>($"page[{p.pfn:x}]._refcount", 1);
        return p;
    }

    /// <summary>put_page: drops a reference; the last one frees the page (and checks S1).</summary>
    public async SimTask put_page(page p)
    {
        if (await p.refcount.Update(static r => r - 1) != 1) return;
        p.freed = true;
        foreach (var mapper in secondary_mappers)
        {
            if (mapper(p) is not { } who) continue;
            ReportStaleMapping(p, who);
        }
        foreach (var check in secondary_mapping_checks)
            if (await check(p) is { } who)
                ReportStaleMapping(p, who);
    }

    private static void ReportStaleMapping(page p, string who)
    {
        Sim.Report(KernelLog.Warning("stale-secondary-mapping",
            $"BUG: page {p} freed while a secondary MMU still maps it", $"{p.pfn}",
            $"freed by {Api.current}\nstill mapped by: {who}"));
    }
}

[Flags]
public enum VmFlags { None = 0, VM_SHARED = 1, VM_HUGETLB = 2, VM_PFNMAP = 4 }

/// <summary>A VMA over [vm_start, vm_end) with one PTE slot per page (PAGE_SIZE = 1 in the model).</summary>
public sealed class vm_area_struct
{
    /// <summary>A VMA whose every page is present (the VMM has touched its guest RAM).</summary>
    public vm_area_struct(ulong vm_start, ulong vm_end, VmFlags flags, bool anonymous, PageAllocator allocator)
    {
        this.vm_start = vm_start;
        this.vm_end = vm_end;
        vm_flags = flags;
        this.anonymous = anonymous;
        pte = new Shared<page?>[vm_end - vm_start];
        for (var i = 0; i < pte.Length; i++) pte[i] = new Shared<page?>($"pte[0x{vm_start + (ulong)i:x}]", allocator.alloc_page());
    }

    public readonly ulong vm_start, vm_end;
    public readonly VmFlags vm_flags;
    public readonly bool anonymous;

    /// <summary>The primary page table of this VMA: hva -> page.</summary>
    public readonly Shared<page?>[] pte;

    public bool vma_is_anonymous() => anonymous;

    public bool Contains(ulong hva) => hva >= vm_start && hva < vm_end;
}

/// <summary>mm->flags bits used here (§2).</summary>
public static class MmFlags
{
    public const int MMF_UNSTABLE = 1 << 0;
    public const int MMF_OOM_SKIP = 1 << 1;
    public const int MMF_OOM_REAP_QUEUED = 1 << 2;
}

/// <summary>struct mm_struct: users/count, mmap_lock, flags, VMAs and the notifier subscriptions.</summary>
public sealed class mm_struct
{
    /// <summary>The locks are initialised with the types <paramref name="code"/> declares (a patch may change them).</summary>
    public mm_struct(Mm code, PageAllocator allocator)
    {
        var kernel = code.kernel;
        mmap_lock = code.mm_struct_mmap_lock.Init(kernel, "&mm->mmap_lock");
        anon_vma_lock = code.anon_vma_rwsem.Init(kernel, "&anon_vma->rwsem");
        page_table_lock = code.ptlock.Init(kernel, "ptlock");
        flags = new Shared<int>("mm->flags");
        mm_users = new Shared<int>("mm->mm_users", 1);
        mm_count = new Shared<int>("mm->mm_count", 1);
        this.allocator = allocator;
    }

    public readonly KernelLock mmap_lock;

    /// <summary>
    /// The rmap lock of this mm's pages: anon_vma->root->rwsem of its (single, in the model) anon_vma, which rmap walkers
    /// such as folio_referenced take for read and mm_take_all_locks takes for write (KERNEL-FACTS §1.5 step 3).
    /// </summary>
    public readonly KernelLock anon_vma_lock;

    /// <summary>
    /// The page-table lock (PTL) of this mm's PTE pages: split ptlocks are one spinlock_t per page-table page, the model
    /// has one per mm (pte_lockptr). A spinlock_t: atomic on !RT, a sleeping rtmutex on PREEMPT_RT (§1.2, §4.1).
    /// </summary>
    public readonly KernelLock page_table_lock;

    public readonly Shared<int> flags;
    public readonly Shared<int> mm_users;
    public readonly Shared<int> mm_count;
    public readonly List<vm_area_struct> vmas = new();
    public readonly PageAllocator allocator;
    public mmu_notifier_subscriptions? notifier_subscriptions;

    /// <summary>Members a patch adds to struct mm_struct (<see cref="Field{T}"/>).</summary>
    public readonly StructFields added = new();

    /// <summary>
    /// S7 bookkeeping (not kernel state): mm_count pins taken by the notifier core — one per registered
    /// <c>struct mmu_notifier</c> (dropped by unregister or the put's SRCU callback) and one per inserted interval notifier
    /// (dropped by mmu_interval_notifier_remove).
    /// </summary>
    public int notifier_pins;

    /// <summary>S7 bookkeeping: mm_count pins held by signal->oom_mm (mark_oom_victim; they live as long as the signal struct).</summary>
    public int oom_mm_pins;

    public bool mm_has_notifiers() => notifier_subscriptions != null;

    /// <summary>pte_lockptr: the PTL that covers <paramref name="address"/> (one per mm in the model).</summary>
    public KernelLock pte_lockptr(ulong address) => page_table_lock;

    public vm_area_struct? find_vma(ulong hva) => vmas.FirstOrDefault(v => v.Contains(hva));
}
