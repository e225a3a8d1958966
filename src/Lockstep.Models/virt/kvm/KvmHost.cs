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
        this.pfn = pfn;
        valid = pfn != null;
    }

    public readonly KernelLock @lock;
    public readonly ulong uhva;
    public page? pfn;
    public bool valid;
}

/// <summary>struct kvm: the fields of KERNEL-FACTS §3.1.</summary>
public sealed class kvm
{
    public const long INVALID_GPA = -1;

    /// <summary>The locks are initialised with the types <paramref name="code"/> declares (a patch may change them).</summary>
    public kvm(KvmMain code, mm_struct mm, bool KVM_HAVE_MMU_RWLOCK)
    {
        kernel = code.kernel;
        this.mm = mm;
        mmu_lock = code.kvm_mmu_lock(KVM_HAVE_MMU_RWLOCK).Init(kernel, "&kvm->mmu_lock");
        mn_invalidate_lock = code.kvm_mn_invalidate_lock.Init(kernel, "&kvm->mn_invalidate_lock");
        slots_lock = code.kvm_slots_lock.Init(kernel, "&kvm->slots_lock");
        slots_arch_lock = code.kvm_slots_arch_lock.Init(kernel, "&kvm->slots_arch_lock");
        srcu = new srcu_struct(kernel, "&kvm->srcu");
        gpc_lock = code.kvm_gpc_lock.Init(kernel, "&kvm->gpc_lock");
        mn_memslots_update_rcuwait = new rcuwait("kvm->mn_memslots_update_rcuwait");
    }

    public readonly Kernel.Kernel kernel;
    public readonly mm_struct mm;
    public readonly KernelLock mmu_lock;
    public readonly KernelLock mn_invalidate_lock;
    public readonly KernelLock slots_lock, slots_arch_lock;
    public readonly srcu_struct srcu;
    public readonly KernelLock gpc_lock;
    public readonly List<gfn_to_pfn_cache> gpc_list = new();
    public readonly rcuwait mn_memslots_update_rcuwait;

    /// <summary>kvm->vcpu_array (kvm_vm_ioctl_create_vcpu adds under kvm->lock; kvm_for_each_vcpu reads it).</summary>
    public readonly Shared<ImmutableList<kvm_vcpu>> vcpu_array = new("kvm->vcpu_array", ImmutableList<kvm_vcpu>.Empty);

    /// <summary>Shared: the atomic-count proposal touches it without the lock, and that race must be visible.</summary>
    public readonly Shared<long> mn_active_invalidate_count = new("kvm->mn_active_invalidate_count");

    /// <summary>Read locklessly by the fault's snapshot.</summary>
    public readonly Shared<long> mmu_invalidate_seq = new("kvm->mmu_invalidate_seq");

    // Under mmu_lock (write) only.
    public long mmu_invalidate_in_progress;
    public long mmu_invalidate_range_start = INVALID_GPA, mmu_invalidate_range_end = INVALID_GPA;

    /// <summary>__memslots[as][2] for the one address space modelled, and the active pointer.</summary>
    public readonly kvm_memslots[] __memslots = new kvm_memslots[2];
    public Shared<kvm_memslots> memslots = null!;

    /// <summary>The secondary page table: gfn -> page, under mmu_lock.</summary>
    public readonly Dictionary<long, page> sptes = new();

    public mmu_notifier mmu_notifier = null!;

    /// <summary>refcount_t users_count: the last kvm_put_kvm destroys the VM.</summary>
    public readonly Shared<int> users_count = new("kvm->users_count", 1);
    public readonly Shared<bool> vm_dead = new("kvm->vm_dead");

    /// <summary>Members a patch adds to struct kvm (<see cref="Field{T}"/>).</summary>
    public readonly StructFields added = new();

    public bool freed;
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
    }

    public readonly kvm kvm;
    public readonly int vcpu_id;

    /// <summary>The guest translations the CPU caches (with EPT: guest-physical → host page).</summary>
    public readonly Shared<ImmutableDictionary<long, page>> tlb;

    /// <summary>The S1 oracle for the TLB: read at the instant a page is freed.</summary>
    public async SimTask<string?> maps(page p)
    {
        foreach (var (gfn, q) in await tlb.Read())
            if (q == p) return $"vCPU {vcpu_id} TLB gfn 0x{gfn:x} -> {p}";
        return null;
    }
}
