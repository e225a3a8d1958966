using System.Collections.Immutable;
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

/// <summary>A physical page. Freed when its last reference goes (refcount 0); S1 is checked at that instant (KERNEL-FACTS §6.1).</summary>
public sealed class page
{
    internal page(int pfn)
    {
        this.pfn = pfn;
        refcount = new Shared<int>($"page[{pfn:x}]._refcount", 1);
    }

    public readonly int pfn;

    /// <summary>Mapping + GUP references; shared because the reaper and a vCPU fault race on it. 0: the page is free.</summary>
    public readonly Shared<int> refcount;

    public override string ToString() => $"pfn 0x{pfn:x}";
}

/// <summary>
/// The page allocator (mm/page_alloc.c): hands out pages while the world is set up, and frees a page when its last
/// reference goes, which is where the S1 oracle (<see cref="Checking.StaleMappings"/>) asks the secondary MMUs.
/// </summary>
public sealed class PageAllocator
{
    private readonly Checking.StaleMappings _stale_mappings;

    public PageAllocator(Mm code)
    {
        zone_lock = new spinlock_t(code.kernel, "&zone->lock");
        _next = new Guarded<int>("zone->next_pfn", zone_lock, 0x1000);
        _stale_mappings = code.stale_mappings;
    }

    /// <summary>zone->lock: it protects the free lists (here, the next free pfn).</summary>
    public readonly KernelLock zone_lock;

    private readonly Guarded<int> _next;

    /// <summary>A new page with one reference. The model allocates while setting up the world only (zone->lock is not taken).</summary>
    public page alloc_page() => new(_next.Value++);

    /// <summary>put_page: drops a reference; the last one frees the page (and S1 is checked).</summary>
    public async SimTask put_page(page p)
    {
        if (await p.refcount.Update(static r => r - 1) != 1) return;
        await _stale_mappings.page_freed(p);
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
        var ptes = ImmutableArray.CreateBuilder<Shared<page?>>((int)(vm_end - vm_start));
        for (var hva = vm_start; hva < vm_end; hva++) ptes.Add(new Shared<page?>($"pte[0x{hva:x}]", allocator.alloc_page()));
        pte = ptes.MoveToImmutable();
    }

    public readonly ulong vm_start, vm_end;
    public readonly VmFlags vm_flags;
    public readonly bool anonymous;

    /// <summary>The primary page table of this VMA: hva -> page.</summary>
    public readonly ImmutableArray<Shared<page?>> pte;

    /// <summary>The PTE of <paramref name="hva"/> (pte_offset_map).</summary>
    public Shared<page?> ptep(ulong hva) => pte[(int)(hva - vm_start)];

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
    public mm_struct(Mm code, PageAllocator allocator, IEnumerable<vm_area_struct> vmas)
    {
        this.vmas = vmas.ToImmutableArray();
        var kernel = code.kernel;
        mmap_lock = code.mm_struct_mmap_lock.Init(kernel, "&mm->mmap_lock");
        anon_vma_lock = code.anon_vma_rwsem.Init(kernel, "&anon_vma->rwsem");
        page_table_lock = code.ptlock.Init(kernel, "ptlock");
        flags = new Shared<int>("mm->flags");
        mm_users = new Shared<int>("mm->mm_users", 1);
        mm_count = new Shared<int>("mm->mm_count", 1);
        this.allocator = allocator;
        notifier_subscriptions = new Shared<mmu_notifier_subscriptions?>("mm->notifier_subscriptions");
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
    /// <summary>The VMAs, as the world set them up (the model unmaps pages, never whole VMAs).</summary>
    public readonly ImmutableArray<vm_area_struct> vmas;
    public readonly PageAllocator allocator;

    /// <summary>Published once by the first registration (smp_store_release), never changed after.</summary>
    public readonly Shared<mmu_notifier_subscriptions?> notifier_subscriptions;

    /// <summary>Members a patch adds to struct mm_struct (<see cref="Field{T}"/>).</summary>
    public readonly StructFields added = new();

    /// <summary>mm_has_notifiers: READ_ONCE(mm->notifier_subscriptions) != NULL.</summary>
    public async SimTask<bool> mm_has_notifiers() => await notifier_subscriptions.Read() != null;

    /// <summary>
    /// mm->notifier_subscriptions where the caller knows it is set: it read it non-NULL (mm_has_notifiers) or holds a
    /// registration. The pointer is written once and never changes, so the caller's earlier read already orders it
    /// after the write, and this one needs no scheduling point.
    /// </summary>
    public mmu_notifier_subscriptions subscriptions()
        => notifier_subscriptions.Peek ?? throw new InvalidOperationException("mm->notifier_subscriptions is NULL where the caller said it was set");

    /// <summary>pte_lockptr: the PTL that covers <paramref name="address"/> (one per mm in the model).</summary>
    public KernelLock pte_lockptr(ulong address) => page_table_lock;

    public vm_area_struct? find_vma(ulong hva) => vmas.FirstOrDefault(v => v.Contains(hva));
}
