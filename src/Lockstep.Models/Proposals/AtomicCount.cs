using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using static Lockstep.Kernel.rcuwait;

namespace Lockstep.Models.Proposals;

/// <summary>
/// Sebastian's variant (Feb 11 2026): mn_active_invalidate_count becomes an atomic; start does atomic_inc without
/// the lock, end does a decrement-and-test with a WARN on underflow; the lock shrinks to the updater's wait.
/// </summary>
public sealed class AtomicCount : KvmMain
{
    public static readonly Proposal Proposal = new("atomic-count", "mn_active_invalidate_count becomes atomic, the lock shrinks",
        "Sebastian Andrzej Siewior, Feb 11 2026 (KERNEL-FACTS §5 #2)")
    { Kvm = m => new AtomicCount(m) };

    public AtomicCount(Mm mm) : base(mm) { }

    public override async SimTask<int> kvm_mmu_notifier_invalidate_range_start(mmu_notifier mn, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var k = mmu_notifier_to_kvm(mn);
        var hva_range = new kvm_mmu_notifier_range(range.start, range.end, kvm_mmu_unmap_gfn_range, kvm_mmu_invalidate_begin,
            flush_on_ret: true, may_block: range.mmu_notifier_range_blockable());

        await k.mn_active_invalidate_count.Update(static c => c + 1);   // + atomic_inc(&kvm->mn_active_invalidate_count);

        await gfn_to_pfn_cache_invalidate_start(k, range.start, range.end);

        if ((await kvm_handle_hva_range(k, hva_range)).found_memslot)
            kvm_arch_guest_memory_reclaimed(k);
        return 0;
    }

    public override async SimTask kvm_mmu_notifier_invalidate_range_end(mmu_notifier mn, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var k = mmu_notifier_to_kvm(mn);
        var hva_range = new kvm_mmu_notifier_range(range.start, range.end, null, kvm_mmu_invalidate_end,
            flush_on_ret: false, may_block: range.mmu_notifier_range_blockable());
        await kvm_handle_hva_range(k, hva_range);

        // + if (WARN_ON_ONCE(atomic_dec_return(&kvm->mn_active_invalidate_count) < 0)) ...
        var before = await k.mn_active_invalidate_count.Update(static c => c - 1);
        if (before <= 0)
            Sim.Report(KernelLog.Warning("S6", "count-underflow", "WARNING: atomic_dec_return(&kvm->mn_active_invalidate_count) < 0", "end"));
        if (before == 1) await rcuwait_wake_up(k.mn_memslots_update_rcuwait);
    }

    public override async SimTask kvm_swap_active_memslots(kvm k, kvm_memslots slots)
    {
        using var fn = KernelFunction.Enter();
        var gen = slots.generation;
        await spin_lock(k.mn_invalidate_lock);
        await prepare_to_rcuwait(k.mn_memslots_update_rcuwait);
        while (await k.mn_active_invalidate_count.Read() != 0)   // + atomic_read()
        {
            await set_current_state(TaskState.TASK_UNINTERRUPTIBLE);
            await spin_unlock(k.mn_invalidate_lock);
            await schedule();
            await spin_lock(k.mn_invalidate_lock);
        }
        await finish_rcuwait(k.mn_memslots_update_rcuwait);
        await k.memslots.Write(slots with { generation = gen + 1 });
        await spin_unlock(k.mn_invalidate_lock);
        await mutex_unlock(k.slots_arch_lock);
        await synchronize_srcu_expedited(k.srcu);
    }
}
