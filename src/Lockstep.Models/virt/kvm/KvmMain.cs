using System.Collections.Immutable;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using static Lockstep.Kernel.rcuwait;
using static Lockstep.Models.virt.kvm.kvm_mm;
using Lockstep.Models.arch.x86;

namespace Lockstep.Models.virt.kvm;

/// <summary>The arguments of kvm_handle_hva_range (§3.3); <paramref name="lockless"/>: the handler runs without mmu_lock (v6.15+ aging).</summary>
public sealed record kvm_mmu_notifier_range(ulong start, ulong end, Func<kvm, kvm_memory_slot, long, long, SimTask<bool>>? handler,
    Func<kvm, SimTask>? on_lock, bool flush_on_ret, bool may_block, bool lockless = false);

/// <summary>
/// virt/kvm/kvm_main.c as far as KERNEL-FACTS §3 describes it; it is also kvm_mmu_notifier_ops. Proposals that
/// patch KVM derive from it and override the functions their patch changes.
/// </summary>
public partial class KvmMain : mmu_notifier_ops
{
    public KvmMain(Mm mm)
    {
        this.mm = mm;
        mmu = Proposals.Proposal.BuildingMmu?.Invoke(this) ?? new Mmu(this);
    }

    protected readonly Mm mm;

    public Kernel.Kernel kernel => mm.kernel;

    /// <summary>The arch MMU (arch/x86/kvm/mmu); a proposal that patches it sets <see cref="Proposals.Proposal.Mmu"/>.</summary>
    public Mmu mmu { get; }

    // ---- lock declarations (include/linux/kvm_host.h struct kvm, include/linux/kvm_types.h struct gfn_to_pfn_cache) ----
    // A patch that changes one overrides it, e.g. "- spinlock_t mn_invalidate_lock; + raw_spinlock_t mn_invalidate_lock;".

    /// <summary>KVM_HAVE_MMU_RWLOCK (x86, arm64): rwlock_t, faults take it for read; other arches: spinlock_t (§3.1, §3.2).</summary>
    public virtual LockType kvm_mmu_lock(bool KVM_HAVE_MMU_RWLOCK) => KVM_HAVE_MMU_RWLOCK ? LockType.rwlock_t : LockType.spinlock_t;

    public virtual LockType kvm_mn_invalidate_lock => LockType.spinlock_t;

    public virtual LockType kvm_slots_lock => LockType.mutex;

    public virtual LockType kvm_slots_arch_lock => LockType.mutex;

    public virtual LockType kvm_gpc_lock => LockType.spinlock_t;

    public virtual LockType gfn_to_pfn_cache_lock => LockType.rwlock_t;

    /// <summary>container_of(mn, struct kvm, mmu_notifier); reaching a freed VM this way is a use-after-free (S7).</summary>
    protected static async SimTask<kvm> mmu_notifier_to_kvm(mmu_notifier mn)
    {
        var k = (kvm)mn.container!;
        if (await k.freed.Read())
            Sim.Report(KernelLog.Warning("kvm-use-after-free", "BUG: KASAN: slab-use-after-free in a KVM MMU-notifier callback (struct kvm already freed)", "kvm"));
        return k;
    }

    // ---- VM creation (§3.5 kvm_init_mmu_notifier) ----

    /// <summary>
    /// kvm_create_vm. <paramref name="KVM_HAVE_MMU_RWLOCK"/> is the arch switch of §3.1: x86 and arm64 define it (mmu_lock is an
    /// rwlock_t, faults take it for read); other arches use a spinlock_t.
    /// </summary>
    public virtual async SimTask<kvm> kvm_create_vm(mm_struct mm_, IReadOnlyList<kvm_memory_slot> slots, bool KVM_HAVE_MMU_RWLOCK = true)
    {
        using var fn = KernelFunction.Enter();
        var k = new kvm(this, mm_, KVM_HAVE_MMU_RWLOCK, slots);   // kvm_alloc: locks, memslots, the embedded notifier
        await mm.mmgrab(mm_);
        await kvm_init_mmu_notifier(k);
        return k;
    }

    /// <summary>kvm->mmu_notifier.ops = &amp;kvm_mmu_notifier_ops (done when the struct kvm was built), then register.</summary>
    protected virtual async SimTask kvm_init_mmu_notifier(kvm k)
    {
        using var fn = KernelFunction.Enter();
        await mm.mmu_notifier_register(k.mmu_notifier, k.mm);
    }

    // ---- kvm_handle_hva_range (§3.3) ----

    public virtual async SimTask<(bool ret, bool found_memslot)> kvm_handle_hva_range(kvm k, kvm_mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var ret = false;
        var found_memslot = false;
        var idx = await srcu_read_lock(k.srcu);
        var slots = await k.memslots.Read();
        foreach (var slot in slots.hva_tree_intersecting(range.start, range.end))
        {
            var hva_start = Math.Max(range.start, slot.userspace_addr);
            var hva_end = Math.Min(range.end, slot.hva_end);
            var gfn_start = slot.hva_to_gfn_memslot(hva_start);
            var gfn_end = slot.hva_to_gfn_memslot(hva_end - 1) + 1;
            if (!found_memslot)
            {
                found_memslot = true;
                if (!range.lockless)
                {
                    await KVM_MMU_LOCK(k.mmu_lock);
                    if (range.on_lock != null) await range.on_lock(k);
                    if (range.handler == null) break;
                }
            }
            ret |= await range.handler!(k, slot, gfn_start, gfn_end);
        }
        if (range.flush_on_ret && ret) await kvm_flush_remote_tlbs(k);
        if (found_memslot && !range.lockless) await KVM_MMU_UNLOCK(k.mmu_lock);
        await srcu_read_unlock(k.srcu, idx);
        return (ret, found_memslot);
    }

    // ---- invalidation bookkeeping (§3.4) ----

    public virtual async SimTask kvm_mmu_invalidate_begin(kvm k)
    {
        if (await k.mmu_invalidate_in_progress.Update(static n => n + 1) == 0)
        {
            k.mmu_invalidate_range_start.Value = kvm.INVALID_GPA;
            k.mmu_invalidate_range_end.Value = kvm.INVALID_GPA;
        }
    }

    public virtual async SimTask kvm_mmu_invalidate_range_add(kvm k, long start, long end)
    {
        if (await k.mmu_invalidate_in_progress.Read() == 0)
            Sim.Report(KernelLog.Warning("range-add-without-begin", "WARNING: kvm_mmu_invalidate_range_add with mmu_invalidate_in_progress == 0", "range_add"));
        if (k.mmu_invalidate_range_start.Value == kvm.INVALID_GPA)
        {
            k.mmu_invalidate_range_start.Value = start;
            k.mmu_invalidate_range_end.Value = end;
        }
        else
        {
            k.mmu_invalidate_range_start.Value = Math.Min(k.mmu_invalidate_range_start.Value, start);
            k.mmu_invalidate_range_end.Value = Math.Max(k.mmu_invalidate_range_end.Value, end);
        }
    }

    /// <summary>kvm_mmu_unmap_gfn_range: range_add, then the arch zap; returns whether a flush is needed.</summary>
    public virtual async SimTask<bool> kvm_mmu_unmap_gfn_range(kvm k, kvm_memory_slot slot, long start, long end)
    {
        await kvm_mmu_invalidate_range_add(k, start, end);
        return await mmu.kvm_unmap_gfn_range(k, start, end);
    }

    public virtual async SimTask kvm_mmu_invalidate_end(kvm k)
    {
        await k.mmu_invalidate_seq.Update(static s => s + 1);   // smp_wmb() before the decrement
        if (await k.mmu_invalidate_in_progress.Update(static n => n - 1) <= 0)
            Sim.Report(KernelLog.Warning("in-progress-underflow", "WARNING: KVM_BUG_ON(kvm->mmu_invalidate_in_progress < 0)", "in_progress"));
    }

    // ---- the notifier callbacks (§3.5) ----

    public override SimTask<int> invalidate_range_start(mmu_notifier mn, mmu_notifier_range range) => kvm_mmu_notifier_invalidate_range_start(mn, range);

    public override SimTask invalidate_range_end(mmu_notifier mn, mmu_notifier_range range) => kvm_mmu_notifier_invalidate_range_end(mn, range);

    public override SimTask release(mmu_notifier mn, mm_struct mm_) => kvm_mmu_notifier_release(mn, mm_);

    public override SimTask<int> clear_flush_young(mmu_notifier mn, mm_struct mm_, ulong start, ulong end) => kvm_mmu_notifier_clear_flush_young(mn, mm_, start, end);

    public override SimTask<int> clear_young(mmu_notifier mn, mm_struct mm_, ulong start, ulong end) => kvm_mmu_notifier_clear_young(mn, mm_, start, end);

    public override SimTask<int> test_young(mmu_notifier mn, mm_struct mm_, ulong address) => kvm_mmu_notifier_test_young(mn, mm_, address);

    public virtual async SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var k = await mmu_notifier_to_kvm(mn);
        var hva_range = new kvm_mmu_notifier_range(range.start, range.end, kvm_mmu_unmap_gfn_range, kvm_mmu_invalidate_begin,
            flush_on_ret: true, may_block: range.mmu_notifier_range_blockable());

        await mn_active_invalidate_count_inc(k);

        await gfn_to_pfn_cache_invalidate_start(k, range.start, range.end);

        if ((await kvm_handle_hva_range(k, hva_range)).found_memslot)
            kvm_arch_guest_memory_reclaimed(k);
        return 0;
    }

    public virtual async SimTask kvm_mmu_notifier_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var k = await mmu_notifier_to_kvm(mn);
        var hva_range = new kvm_mmu_notifier_range(range.start, range.end, null, kvm_mmu_invalidate_end,
            flush_on_ret: false, may_block: range.mmu_notifier_range_blockable());
        await kvm_handle_hva_range(k, hva_range);

        await mn_active_invalidate_count_dec(k);
    }

    /// <summary>The count update in kvm_mmu_notifier_invalidate_range_start: one more invalidation, under mn_invalidate_lock.</summary>
    protected virtual async SimTask mn_active_invalidate_count_inc(kvm k)
    {
        await spin_lock(k.mn_invalidate_lock);
        await k.mn_active_invalidate_count.Update(static c => c + 1);
        await spin_unlock(k.mn_invalidate_lock);
    }

    /// <summary>
    /// The count update in kvm_mmu_notifier_invalidate_range_end: one fewer under mn_invalidate_lock; the last one wakes the
    /// memslot updater (rcuwait_wake_up after the unlock).
    /// </summary>
    protected virtual async SimTask mn_active_invalidate_count_dec(kvm k)
    {
        await spin_lock(k.mn_invalidate_lock);
        var count = await k.mn_active_invalidate_count.Read();
        if (count == 0)
            Sim.Report(KernelLog.Warning("count-underflow", "WARNING: invalidate_range_end with mn_active_invalidate_count == 0", "end"));
        else
            await k.mn_active_invalidate_count.Write(--count);
        var wake = count == 0;
        await spin_unlock(k.mn_invalidate_lock);

        if (wake) await rcuwait_wake_up(k.mn_memslots_update_rcuwait);
    }

    public virtual async SimTask kvm_mmu_notifier_release(mmu_notifier mn, mm_struct mm_)
    {
        using var fn = KernelFunction.Enter();
        var k = await mmu_notifier_to_kvm(mn);
        var idx = await srcu_read_lock(k.srcu);
        await kvm_flush_shadow_all(k);
        await srcu_read_unlock(k.srcu, idx);
    }

    /// <summary>
    /// IS_ENABLED(CONFIG_KVM_MMU_NOTIFIER_AGING_LOCKLESS): the aging callbacks walk the memslots without mmu_lock and
    /// the arch ages its SPTEs locklessly. x86 selects it since v6.15 (5eec660014bf "KVM: Allow lockless walk of SPTEs
    /// when handing aging mmu_notifier event"; its TDP MMU ages under RCU, only shadow-MMU rmaps, which the model does
    /// not have, take mmu_lock in kvm_age_gfn). Of the model's arches x86 is the one with KVM_HAVE_MMU_RWLOCK; riscv
    /// selects neither.
    /// </summary>
    protected bool KVM_MMU_NOTIFIER_AGING_LOCKLESS(kvm k) => k.KVM_HAVE_MMU_RWLOCK && kernel.Config.Version >= new KernelVersion(6, 15);

    public virtual async SimTask<int> kvm_mmu_notifier_clear_flush_young(mmu_notifier mn, mm_struct mm_, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        var k = await mmu_notifier_to_kvm(mn);
        var r = await kvm_handle_hva_range(k, new kvm_mmu_notifier_range(start, end, mmu.kvm_age_gfn, null, flush_on_ret: true, may_block: false,
            lockless: KVM_MMU_NOTIFIER_AGING_LOCKLESS(k)));
        return r.ret ? 1 : 0;
    }

    /// <summary>Like clear_flush_young, but the TLB flush may be skipped (§3.5).</summary>
    public virtual async SimTask<int> kvm_mmu_notifier_clear_young(mmu_notifier mn, mm_struct mm_, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        var k = await mmu_notifier_to_kvm(mn);
        var r = await kvm_handle_hva_range(k, new kvm_mmu_notifier_range(start, end, mmu.kvm_age_gfn, null, flush_on_ret: false, may_block: false,
            lockless: KVM_MMU_NOTIFIER_AGING_LOCKLESS(k)));
        return r.ret ? 1 : 0;
    }

    /// <summary>Query only, on [address, address + 1) (§3.5).</summary>
    public virtual async SimTask<int> kvm_mmu_notifier_test_young(mmu_notifier mn, mm_struct mm_, ulong address)
    {
        using var fn = KernelFunction.Enter();
        var k = await mmu_notifier_to_kvm(mn);
        var r = await kvm_handle_hva_range(k, new kvm_mmu_notifier_range(address, address + 1, mmu.kvm_age_gfn, null, flush_on_ret: false, may_block: false,
            lockless: KVM_MMU_NOTIFIER_AGING_LOCKLESS(k)));
        return r.ret ? 1 : 0;
    }

    /// <summary>kvm_flush_shadow_all: zap every SPTE (kvm_arch_flush_shadow_all) and the reclaimed hook.</summary>
    public virtual async SimTask kvm_flush_shadow_all(kvm k)
    {
        using var fn = KernelFunction.Enter();
        await KVM_MMU_LOCK(k.mmu_lock);
        await k.sptes.Write(ImmutableDictionary<long, page>.Empty);   // kvm_arch_flush_shadow_all
        await kvm_flush_remote_tlbs(k);
        await KVM_MMU_UNLOCK(k.mmu_lock);
        kvm_arch_guest_memory_reclaimed(k);
    }

    public virtual void kvm_arch_guest_memory_reclaimed(kvm k) => Sim.Note("kvm_arch_guest_memory_reclaimed");

    // ---- vCPUs ----

    /// <summary>
    /// kvm_vm_ioctl_create_vcpu: a vCPU with an empty TLB, published in kvm->vcpu_array (under kvm->lock, which the model
    /// does not need: worlds create their vCPUs before any task runs). The vCPU fd's reference on the VM (kvm_get_kvm) is
    /// not modelled: a scenario that destroys a VM runs no vCPU.
    /// </summary>
    public virtual async SimTask<kvm_vcpu> kvm_vm_ioctl_create_vcpu(kvm k, int id)
    {
        using var fn = KernelFunction.Enter();
        var vcpu = new kvm_vcpu(k, id);
        await k.vcpu_array.Update(a => a.Add(vcpu));   // xa_insert(&kvm->vcpu_array, vcpu->vcpu_idx, vcpu, ...)
        return vcpu;
    }

    /// <summary>
    /// kvm_flush_remote_tlbs → kvm_make_all_cpus_request(kvm, KVM_REQ_TLB_FLUSH): every vCPU in guest mode is kicked
    /// out and waited for, and flushes its TLB before it enters the guest again; so once this returns no vCPU uses a
    /// translation that was cached before. The model waits for each vCPU to be outside guest mode (the kick's IPI and
    /// KVM_REQUEST_WAIT), then empties its TLB.
    /// </summary>
    public virtual async SimTask kvm_flush_remote_tlbs(kvm k)
    {
        using var fn = KernelFunction.Enter();
        foreach (var vcpu in await k.vcpu_array.Read())   // kvm_for_each_vcpu
        {
            await vcpu.mode.WaitUntil(static m => m == kvm_vcpu.OUTSIDE_GUEST_MODE);
            await vcpu.tlb.Write(ImmutableDictionary<long, page>.Empty);
        }
    }

    // ---- memslot updates (§3.8, §8): a DELETE or MOVE first installs an INVALID copy of the old slot (first swap),
    // zaps the old slot's SPTEs, then installs the final set (second swap); each swap waits in kvm_swap_active_memslots
    // until no invalidation is open ----

    /// <summary>include/linux/kvm_host.h: SHRT_MAX slots, the last KVM_INTERNAL_MEM_SLOTS (3 on x86) private to KVM.</summary>
    public const int KVM_MEM_SLOTS_NUM = short.MaxValue;

    public const int KVM_INTERNAL_MEM_SLOTS = 3;

    public const int KVM_USER_MEM_SLOTS = KVM_MEM_SLOTS_NUM - KVM_INTERNAL_MEM_SLOTS;

    public const int EEXIST = 17;

    /// <summary>KVM_SET_USER_MEMORY_REGION(2) on a user slot: kvm_set_memory_region under slots_lock.</summary>
    public virtual async SimTask<int> kvm_vm_ioctl_set_memory_region(kvm k, kvm_userspace_memory_region2 mem)
    {
        using var fn = KernelFunction.Enter();
        if ((ushort)mem.slot >= KVM_USER_MEM_SLOTS) return -Mm.EINVAL;
        await mutex_lock(k.slots_lock);   // guard(mutex)(&kvm->slots_lock)
        var r = await kvm_set_memory_region(k, mem);
        await mutex_unlock(k.slots_lock);
        return r;
    }

    /// <summary>kvm_set_internal_memslot: a private memslot (x86's __x86_set_memory_region, slots_lock held).</summary>
    public virtual async SimTask<int> kvm_set_internal_memslot(kvm k, kvm_userspace_memory_region2 mem)
    {
        using var fn = KernelFunction.Enter();
        if (mem.slot < KVM_USER_MEM_SLOTS)
        {
            Sim.Report(KernelLog.Warning("internal-memslot-id", "WARNING: kvm_set_internal_memslot: WARN_ON_ONCE(mem->slot < KVM_USER_MEM_SLOTS)", "memslot"));
            return -Mm.EINVAL;
        }
        return await kvm_set_memory_region(k, mem);
    }

    /// <summary>
    /// kvm_set_memory_region (slots_lock held): size 0 deletes the slot; the same host range and size at another gfn
    /// moves it (-EEXIST if it would overlap another slot). Creating a slot or changing its flags is not modelled.
    /// </summary>
    protected virtual async SimTask<int> kvm_set_memory_region(kvm k, kvm_userspace_memory_region2 mem)
    {
        using var fn = KernelFunction.Enter();
        lockdep_assert_held(k.slots_lock);
        var slots = await k.memslots.Read();   // __kvm_memslots(kvm, as_id)
        var old = slots.id_to_memslot(mem.slot);
        if (mem.memory_size == 0)
        {
            if (old == null) return -Mm.EINVAL;
            return await kvm_set_memslot(k, old, null, kvm_mr_change.KVM_MR_DELETE);
        }
        if (old == null) throw new NotSupportedException("kvm_set_memory_region: KVM_MR_CREATE is not modelled");
        if (mem.userspace_addr != old.userspace_addr || mem.memory_size != old.npages) return -Mm.EINVAL;
        if (mem.guest_phys_addr == old.base_gfn) return 0;   // nothing to change (flags are not modelled)
        if (slots.kvm_check_memslot_overlap(mem.slot, mem.guest_phys_addr, mem.guest_phys_addr + mem.memory_size)) return -EEXIST;
        var @new = new kvm_memory_slot(mem.slot, mem.guest_phys_addr, mem.memory_size, mem.userspace_addr);
        return await kvm_set_memslot(k, old, @new, kvm_mr_change.KVM_MR_MOVE);
    }

    /// <summary>
    /// kvm_set_memslot for DELETE and MOVE: slots_arch_lock from before the current set is copied until the first swap
    /// (which releases it); the INVALID copy goes in first, then the final set. kvm_prepare_memory_region cannot fail in
    /// the model and kvm_commit_memory_region frees only metadata the model does not keep.
    /// </summary>
    protected virtual async SimTask<int> kvm_set_memslot(kvm k, kvm_memory_slot old, kvm_memory_slot? @new, kvm_mr_change change)
    {
        using var fn = KernelFunction.Enter();
        await mutex_lock(k.slots_arch_lock);   // released in kvm_swap_active_memslots
        var invalid_slot = await kvm_invalidate_memslot(k, old);
        if (change == kvm_mr_change.KVM_MR_DELETE) await kvm_delete_memslot(k, old, invalid_slot);
        else await kvm_move_memslot(k, old, @new!, invalid_slot);
        return 0;
    }

    /// <summary>
    /// kvm_invalidate_memslot: install a copy of <paramref name="old"/> marked KVM_MEMSLOT_INVALID (first swap). From then
    /// on a fault on the slot retries and an invalidation of its host range still finds it; once the SRCU readers of
    /// the old set are gone, zap what they installed. Returns with slots_arch_lock held again.
    /// </summary>
    protected virtual async SimTask<kvm_memory_slot> kvm_invalidate_memslot(kvm k, kvm_memory_slot old)
    {
        using var fn = KernelFunction.Enter();
        var invalid_slot = old with { flags = old.flags | kvm_memory_slot.KVM_MEMSLOT_INVALID };   // kvm_copy_memslot
        var active = await k.memslots.Read();
        await kvm_swap_active_memslots(k, active.kvm_replace_memslot(old, invalid_slot));
        await mmu.kvm_arch_flush_shadow_memslot(k, old);
        kvm_arch_guest_memory_reclaimed(k);
        await mutex_lock(k.slots_arch_lock);   // released by kvm_swap_active_memslots, reacquire
        return invalid_slot;
    }

    /// <summary>kvm_delete_memslot: the second swap installs the set without the slot.</summary>
    protected virtual SimTask kvm_delete_memslot(kvm k, kvm_memory_slot old, kvm_memory_slot invalid_slot)
        => kvm_activate_memslot(k, invalid_slot, null);

    /// <summary>kvm_move_memslot: the second swap installs <paramref name="new"/> in place of the INVALID copy.</summary>
    protected virtual SimTask kvm_move_memslot(kvm k, kvm_memory_slot old, kvm_memory_slot @new, kvm_memory_slot invalid_slot)
        => kvm_activate_memslot(k, invalid_slot, @new);

    /// <summary>kvm_activate_memslot: swap in the active set with <paramref name="old"/> replaced by <paramref name="new"/>.</summary>
    protected virtual async SimTask kvm_activate_memslot(kvm k, kvm_memory_slot old, kvm_memory_slot? @new)
    {
        using var fn = KernelFunction.Enter();
        var active = await k.memslots.Read();
        await kvm_swap_active_memslots(k, active.kvm_replace_memslot(old, @new));
    }

    /// <summary>
    /// Installs <paramref name="slots"/> (the inactive set, already edited) as the active one once no invalidation is
    /// open, then releases slots_arch_lock and waits for the SRCU readers of the old set.
    /// </summary>
    public virtual async SimTask kvm_swap_active_memslots(kvm k, kvm_memslots slots)
    {
        using var fn = KernelFunction.Enter();
        var gen = slots.generation;
        await spin_lock(k.mn_invalidate_lock);
        await prepare_to_rcuwait(k.mn_memslots_update_rcuwait);
        while (await k.mn_active_invalidate_count.Read() != 0)
        {
            await set_current_state(TaskState.TASK_UNINTERRUPTIBLE);
            await spin_unlock(k.mn_invalidate_lock);
            await schedule();
            await spin_lock(k.mn_invalidate_lock);
        }
        await finish_rcuwait(k.mn_memslots_update_rcuwait);
        await k.memslots.Write(slots with { generation = gen + 1 });   // rcu_assign_pointer
        await spin_unlock(k.mn_invalidate_lock);
        await mutex_unlock(k.slots_arch_lock);
        await synchronize_srcu_expedited(k.srcu);
    }

    // ---- teardown (§3.9) ----

    /// <summary>kvm_put_kvm: the last reference (the VM fd's release, say) destroys the VM.</summary>
    public virtual async SimTask kvm_put_kvm(kvm k)
    {
        using var fn = KernelFunction.Enter();
        if (await k.users_count.Update(static c => c - 1) == 1) await kvm_destroy_vm(k);
    }

    /// <summary>
    /// kvm_destroy_vm (§3.9), the parts the model has: mmu_notifier_unregister and the unbalanced-count fixup,
    /// kvm_arch_destroy_vm (x86 deletes its private memslots there), cleanup_srcu_struct(&amp;kvm->srcu), the free and
    /// the mmdrop pairing kvm_create_vm's mmgrab.
    /// </summary>
    public virtual async SimTask kvm_destroy_vm(kvm k)
    {
        using var fn = KernelFunction.Enter();
        await mm.mmu_notifier_unregister(k.mmu_notifier, k.mm);
        if (rcuwait_active(k.mn_memslots_update_rcuwait))
            Sim.Report(KernelLog.Warning("destroy-with-waiter", "WARNING: rcuwait_active(&kvm->mn_memslots_update_rcuwait) in kvm_destroy_vm", "rcuwait"));
        if (await k.mn_active_invalidate_count.Read() != 0)
            await k.mn_active_invalidate_count.Write(0);
        else if (await k.mmu_invalidate_in_progress.Read() != 0)
            Sim.Report(KernelLog.Warning("destroy-in-progress", "WARNING: kvm->mmu_invalidate_in_progress != 0 in kvm_destroy_vm", "destroy"));
        await kvm_arch_destroy_vm(k);
        await cleanup_srcu_struct(k.srcu);
        await kvm_arch_free_vm(k);
        await mm.mmdrop(k.mm);
    }

    /// <summary>The kfree of the struct kvm: its SPTEs, its gpc list and the embedded struct mmu_notifier go with it.</summary>
    protected virtual async SimTask kvm_arch_free_vm(kvm k)
    {
        await k.freed.Write(true);
        await mm.lifetimes.freed(k.mmu_notifier);
        await k.sptes.Write(ImmutableDictionary<long, page>.Empty);
        await k.gpc_list.Clear();
    }
}
