using System.Collections.Immutable;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;

namespace Lockstep.Models.virt.kvm;

/// <summary>
/// struct kvm_memory_slot: guest frames [base_gfn, base_gfn + npages) backed by host VA userspace_addr. Ids from
/// KVM_USER_MEM_SLOTS up are KVM's private (internal) memslots.
/// </summary>
public sealed record kvm_memory_slot(int id, long base_gfn, long npages, ulong userspace_addr, uint flags = 0)
{
    /// <summary>include/linux/kvm_host.h: the slot is being deleted or moved (set on the copy kvm_invalidate_memslot installs).</summary>
    public const uint KVM_MEMSLOT_INVALID = 1u << 16;

    public ulong hva_end => userspace_addr + (ulong)npages;

    public long hva_to_gfn_memslot(ulong hva) => base_gfn + (long)(hva - userspace_addr);

    public ulong gfn_to_hva_memslot(long gfn) => userspace_addr + (ulong)(gfn - base_gfn);
}

/// <summary>struct kvm_memslots: one memslot set; two per address space, one active (§3.1).</summary>
public sealed record kvm_memslots(long generation, IReadOnlyList<kvm_memory_slot> slots)
{
    public kvm_memory_slot? gfn_to_memslot(long gfn) => slots.FirstOrDefault(s => gfn >= s.base_gfn && gfn < s.base_gfn + s.npages);

    /// <summary>The hva_tree walk: slots whose host range intersects [start, end).</summary>
    public IEnumerable<kvm_memory_slot> hva_tree_intersecting(ulong start, ulong end) => slots.Where(s => s.userspace_addr < end && start < s.hva_end);

    public kvm_memory_slot? id_to_memslot(int id) => slots.FirstOrDefault(s => s.id == id);

    /// <summary>
    /// kvm_replace_memslot on a copy of this set: <paramref name="old"/> replaced by <paramref name="new"/> (null
    /// <paramref name="old"/>: add; null <paramref name="new"/>: remove). The sets are immutable, so the copy is the
    /// inactive set the kernel edits before it swaps.
    /// </summary>
    public kvm_memslots kvm_replace_memslot(kvm_memory_slot? old, kvm_memory_slot? @new)
    {
        var list = slots.Where(s => s != old).ToList();
        if (@new != null) list.Add(@new);
        return this with { slots = list };
    }

    /// <summary>kvm_check_memslot_overlap: a slot other than <paramref name="id"/> intersects [start, end).</summary>
    public bool kvm_check_memslot_overlap(int id, long start, long end) => slots.Any(s => s.id != id && s.base_gfn < end && start < s.base_gfn + s.npages);
}

/// <summary>struct gfn_to_pfn_cache (virt/kvm/pfncache.c): a kernel mapping of one guest page.</summary>
public sealed class gfn_to_pfn_cache
{
    public gfn_to_pfn_cache(KvmMain code, ulong uhva, page? pfn)
    {
        @lock = code.gfn_to_pfn_cache_lock.Init(code.kernel, "&gpc->lock");
        this.uhva = uhva;
        this.pfn = new Shared<page?>($"gpc[0x{uhva:x}]->pfn", pfn);
        valid = new Shared<bool>($"gpc[0x{uhva:x}]->valid", pfn != null);
    }

    public readonly KernelLock @lock;
    public readonly ulong uhva;

    /// <summary>Written under gpc->lock (write); read under it, and by the S1 oracle.</summary>
    public readonly Shared<page?> pfn;

    public readonly Shared<bool> valid;
}

/// <summary>struct kvm: the fields of KERNEL-FACTS §3.1.</summary>
public sealed class kvm
{
    public const long INVALID_GPA = -1;

    /// <summary>
    /// kvm_create_vm's allocation and initialisation: the locks with the types <paramref name="code"/> declares (a patch
    /// may change them), the active memslot set, and the embedded struct mmu_notifier with KVM's ops.
    /// </summary>
    public kvm(KvmMain code, mm_struct mm, bool KVM_HAVE_MMU_RWLOCK, IReadOnlyList<kvm_memory_slot> slots)
    {
        kernel = code.kernel;
        this.mm = mm;
        this.KVM_HAVE_MMU_RWLOCK = KVM_HAVE_MMU_RWLOCK;
        mmu_lock = code.kvm_mmu_lock(KVM_HAVE_MMU_RWLOCK).Init(kernel, "&kvm->mmu_lock");
        mn_invalidate_lock = code.kvm_mn_invalidate_lock.Init(kernel, "&kvm->mn_invalidate_lock");
        slots_lock = code.kvm_slots_lock.Init(kernel, "&kvm->slots_lock");
        slots_arch_lock = code.kvm_slots_arch_lock.Init(kernel, "&kvm->slots_arch_lock");
        srcu = new srcu_struct(kernel, "&kvm->srcu");
        gpc_lock = code.kvm_gpc_lock.Init(kernel, "&kvm->gpc_lock");
        mn_memslots_update_rcuwait = new rcuwait("kvm->mn_memslots_update_rcuwait");
        mmu_invalidate_range_start = new Guarded<long>("kvm->mmu_invalidate_range_start", mmu_lock, INVALID_GPA);
        mmu_invalidate_range_end = new Guarded<long>("kvm->mmu_invalidate_range_end", mmu_lock, INVALID_GPA);
        memslots = new Shared<kvm_memslots>("kvm->memslots[0]", new kvm_memslots(0, slots));
        mmu_notifier = new mmu_notifier(code, container: this, name: "kvm->mmu_notifier");
    }

    public readonly Kernel.Kernel kernel;
    public readonly mm_struct mm;

    /// <summary>The arch's define (x86, arm64): mmu_lock is an rwlock_t and faults take it for read.</summary>
    public readonly bool KVM_HAVE_MMU_RWLOCK;
    public readonly KernelLock mmu_lock;
    public readonly KernelLock mn_invalidate_lock;
    public readonly KernelLock slots_lock, slots_arch_lock;
    public readonly srcu_struct srcu;
    public readonly KernelLock gpc_lock;

    /// <summary>The active gfn->pfn caches, changed under gpc_lock and walked under it.</summary>
    public readonly SharedList<gfn_to_pfn_cache> gpc_list = new("kvm->gpc_list");

    public readonly rcuwait mn_memslots_update_rcuwait;

    /// <summary>kvm->vcpu_array (kvm_vm_ioctl_create_vcpu adds under kvm->lock; kvm_for_each_vcpu reads it).</summary>
    public readonly Shared<ImmutableList<kvm_vcpu>> vcpu_array = new("kvm->vcpu_array", ImmutableList<kvm_vcpu>.Empty);

    /// <summary>Shared: the atomic-count proposal touches it without the lock, and that race must be visible.</summary>
    public readonly Shared<long> mn_active_invalidate_count = new("kvm->mn_active_invalidate_count");

    /// <summary>Read locklessly by the fault's snapshot.</summary>
    public readonly Shared<long> mmu_invalidate_seq = new("kvm->mmu_invalidate_seq");

    /// <summary>Written under mmu_lock (write), read under it by faults, and locklessly by kvm_destroy_vm's WARN.</summary>
    public readonly Shared<long> mmu_invalidate_in_progress = new("kvm->mmu_invalidate_in_progress");

    /// <summary>The range of the open invalidations, under mmu_lock.</summary>
    public readonly Guarded<long> mmu_invalidate_range_start, mmu_invalidate_range_end;

    /// <summary>The active memslot set (the model's one address space; the inactive one is built by each update).</summary>
    public readonly Shared<kvm_memslots> memslots;

    /// <summary>
    /// The secondary page table, gfn -> page: installed under mmu_lock held for read (atomically, as the TDP MMU's
    /// cmpxchg), zapped under it held for write, walked locklessly by the vCPU in guest mode.
    /// </summary>
    public readonly Shared<ImmutableDictionary<long, page>> sptes = new("kvm->sptes", ImmutableDictionary<long, page>.Empty);

    public readonly mmu_notifier mmu_notifier;

    /// <summary>refcount_t users_count: the last kvm_put_kvm destroys the VM.</summary>
    public readonly Shared<int> users_count = new("kvm->users_count", 1);
    public readonly Shared<bool> vm_dead = new("kvm->vm_dead");

    /// <summary>Members a patch adds to struct kvm (<see cref="Field{T}"/>).</summary>
    public readonly StructFields added = new();

    /// <summary>kvm_arch_free_vm has freed the structure.</summary>
    public readonly Shared<bool> freed = new("kvm->freed");
}

/// <summary>struct kvm_userspace_memory_region2 as the model needs it (PAGE_SIZE = 1: addresses and sizes in pages; no flags).</summary>
public sealed record kvm_userspace_memory_region2(int slot, long guest_phys_addr, long memory_size, ulong userspace_addr);

/// <summary>enum kvm_mr_change (include/linux/kvm_host.h).</summary>
public enum kvm_mr_change { KVM_MR_CREATE, KVM_MR_DELETE, KVM_MR_MOVE, KVM_MR_FLAGS_ONLY }

/// <summary>
/// struct kvm_vcpu (include/linux/kvm_host.h), with the one piece of hardware state S1 needs: the TLB of the CPU it
/// runs on, gfn → page, filled by the guest's accesses from the SPTEs and emptied by kvm_flush_remote_tlbs. A
/// translation stays usable after its SPTE is zapped until that flush (KERNEL-FACTS §3.7 I1, §6.1 S1).
/// </summary>
public sealed class kvm_vcpu
{
    public kvm_vcpu(kvm k, int vcpu_id)
    {
        kvm = k;
        this.vcpu_id = vcpu_id;
        tlb = new Shared<ImmutableDictionary<long, page>>($"vcpu{vcpu_id}->tlb", ImmutableDictionary<long, page>.Empty);
        mode = new Shared<int>($"vcpu{vcpu_id}->mode", OUTSIDE_GUEST_MODE);
    }

    public readonly kvm kvm;
    public readonly int vcpu_id;

    /// <summary>The guest translations the CPU caches (with EPT: guest-physical → host page).</summary>
    public readonly Shared<ImmutableDictionary<long, page>> tlb;

    public const int OUTSIDE_GUEST_MODE = 0, IN_GUEST_MODE = 1;

    /// <summary>vcpu->mode (include/linux/kvm_host.h): what a request's kick waits on.</summary>
    public readonly Shared<int> mode;
}
