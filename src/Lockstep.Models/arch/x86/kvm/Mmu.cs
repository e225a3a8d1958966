using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using static Lockstep.Models.virt.kvm.kvm_mm;

namespace Lockstep.Models.arch.x86;

/// <summary>
/// arch/x86/kvm/mmu (mmu.c, tdp_mmu.c): the SPTEs, the zap, aging, and the TDP page fault (KERNEL-FACTS §3.6, §3.7).
/// A patch to it derives from this and is built by <see cref="Proposals.Proposal.Mmu"/>.
/// </summary>
public class Mmu
{
    public Mmu(KvmMain kvm_code) => this.kvm_code = kvm_code;

    /// <summary>virt/kvm, which this arch code calls back into.</summary>
    protected readonly KvmMain kvm_code;

    /// <summary>Bounded retries of a stale fault (the model's stand-in for "retry the fault later").</summary>
    public const int FAULT_RETRIES = 2;

    /// <summary>kvm_unmap_gfn_range (mmu_lock held for write): zaps SPTEs of [start, end); true if a flush is needed.</summary>
    public virtual async SimTask<bool> kvm_unmap_gfn_range(kvm k, long start, long end)
    {
        static bool InRange(long gfn, long start, long end) => gfn >= start && gfn < end;
        var before = await k.sptes.Update(sptes => sptes.RemoveRange(sptes.Keys.Where(g => InRange(g, start, end)).ToList()));
        return before.Keys.Any(g => InRange(g, start, end));
    }

    /// <summary>
    /// kvm_arch_flush_shadow_memslot → kvm_mmu_zap_memslot_leafs: zap the slot's SPTEs under mmu_lock (write) and flush
    /// the TLBs if any was zapped. (KVM_X86_DEFAULT_VM with the default KVM_X86_QUIRK_SLOT_ZAP_ALL zaps every root
    /// instead, kvm_mmu_zap_all_fast; that also flushes and hides a missing flush, so the model takes the leaf zap.)
    /// </summary>
    public virtual async SimTask kvm_arch_flush_shadow_memslot(kvm k, kvm_memory_slot slot)
    {
        using var fn = KernelFunction.Enter();
        await KVM_MMU_LOCK(k.mmu_lock);
        if (await kvm_unmap_gfn_range(k, slot.base_gfn, slot.base_gfn + slot.npages))
            await kvm_code.kvm_flush_remote_tlbs(k);   // kvm_flush_remote_tlbs_memslot
        await KVM_MMU_UNLOCK(k.mmu_lock);
    }

    public virtual async SimTask<bool> kvm_age_gfn(kvm k, kvm_memory_slot slot, long start, long end)
        => (await k.sptes.Read()).Keys.Any(gfn => gfn >= start && gfn < end);

    /// <summary>is_page_fault_stale (arch/x86/kvm/mmu/mmu.c), mmu_lock held: the invalidation check of §3.6.</summary>
    public virtual SimTask<bool> is_page_fault_stale(kvm k, long mmu_seq, long gfn) => mmu_invalidate_retry_gfn(k, mmu_seq, gfn);

    /// <summary>mmu_invalidate_retry_gfn (include/linux/kvm_host.h; mmu_lock held): retry if an open invalidation covers gfn or the seq moved.</summary>
    public virtual async SimTask<bool> mmu_invalidate_retry_gfn(kvm k, long mmu_seq, long gfn)
    {
        if (await k.mmu_invalidate_in_progress.Read() != 0)
        {
            if (k.mmu_invalidate_range_start.Value == kvm.INVALID_GPA)
            {
                Sim.Report(KernelLog.Warning("in-progress-no-range", "WARNING: mmu_invalidate_in_progress without a recorded range", "retry_gfn"));
                return true;
            }
            if (gfn >= k.mmu_invalidate_range_start.Value && gfn < k.mmu_invalidate_range_end.Value) return true;
        }
        return await k.mmu_invalidate_seq.Read() != mmu_seq;
    }

    /// <summary>
    /// The TDP fault of one gfn: snapshot the seq, resolve the page through the primary MMU (GUP, taking a reference),
    /// take mmu_lock for read, check staleness, install the SPTE or retry, drop the reference. Returns whether it mapped.
    /// </summary>
    public virtual async SimTask<bool> kvm_tdp_page_fault(kvm k, long gfn)
    {
        using var fn = KernelFunction.Enter();
        for (var attempt = 0; attempt <= FAULT_RETRIES; attempt++)
        {
            var mmu_seq = await k.mmu_invalidate_seq.Read();   // fault->mmu_seq, then smp_rmb()
            var idx = await srcu_read_lock(k.srcu);
            var slot = (await k.memslots.Read()).gfn_to_memslot(gfn);
            if (slot == null)
            {
                await srcu_read_unlock(k.srcu, idx);
                return false;   // no memslot: emulated MMIO
            }
            if ((slot.flags & kvm_memory_slot.KVM_MEMSLOT_INVALID) != 0)
            {
                // kvm_mmu_faultin_pfn: the slot is being deleted or moved; RET_PF_RETRY until it is gone or moved
                await srcu_read_unlock(k.srcu, idx);
                await Sim.Yield();
                continue;
            }
            var page = await hva_to_pfn(k, slot.gfn_to_hva_memslot(gfn));
            if (page == null)
            {
                await srcu_read_unlock(k.srcu, idx);
                return false;   // -EFAULT: the page is unmapped (munmapped, or reaped: VM_FAULT_SIGBUS on an MMF_UNSTABLE mm)
            }
            await read_lock(k.mmu_lock);   // read_lock where mmu_lock is an rwlock_t (KVM_HAVE_MMU_RWLOCK), spin_lock where it is a spinlock_t
            var stale = await is_page_fault_stale(k, mmu_seq, gfn);
            if (!stale) await kvm_tdp_mmu_map(k, gfn, page);
            // out_unlock: since v6.13 kvm_mmu_finish_page_fault releases the page before mmu_lock is dropped (mmu.c,
            // "KVM: Stop grabbing references to PFNMAP'd pages"); v6.12 did kvm_release_pfn_clean after read_unlock.
            var releaseUnderLock = kvm_code.kernel.Config.Version >= new KernelVersion(6, 13);
            if (releaseUnderLock) await kvm_release_faultin_page(k, page);
            await read_unlock(k.mmu_lock);
            if (!releaseUnderLock) await kvm_release_faultin_page(k, page);
            await srcu_read_unlock(k.srcu, idx);
            if (!stale) return true;
            await Sim.Yield();   // RET_PF_RETRY: the vCPU re-enters the guest and faults again
        }
        return false;
    }

    /// <summary>
    /// kvm_release_faultin_page (include/linux/kvm_host.h): drop the fault's reference to the page it got from the
    /// primary MMU (marking it dirty or accessed, which the model does not track). Since v6.13 it
    /// lockdep_assert_once()s that mmu_lock is held unless the fault is retried.
    /// </summary>
    protected virtual SimTask kvm_release_faultin_page(kvm k, page p) => k.mm.allocator.put_page(p);

    /// <summary>
    /// The vCPU in guest mode (vcpu->mode == IN_GUEST_MODE) accesses gfn: through the TLB's translation if it has one,
    /// else the hardware walks the SPTE (no lock) and caches it. A TLB flush request waits for vCPUs in guest mode to
    /// exit (kvm_make_all_cpus_request), so no walk is cut by a flush. Touching a freed page is the use-after-free S1
    /// protects against.
    /// </summary>
    public virtual async SimTask vcpu_enter_guest(kvm_vcpu vcpu, long gfn)
    {
        using var fn = KernelFunction.Enter();
        var k = vcpu.kvm;
        await vcpu.mode.Write(kvm_vcpu.IN_GUEST_MODE);   // vcpu_enter_guest: smp_store_mb(vcpu->mode, IN_GUEST_MODE)
        if (!(await vcpu.tlb.Read()).TryGetValue(gfn, out var p))
        {
            if ((await k.sptes.Read()).TryGetValue(gfn, out p)) await vcpu.tlb.Update(t => t.SetItem(gfn, p!));
        }
        if (p != null)   // else an EPT violation: a fault, not an access
        {
            var refcount = await p.refcount.Read();   // the access: ordered against put_page's last reference drop, which frees the page
            if (refcount == 0 && (await vcpu.tlb.Read()).GetValueOrDefault(gfn) == p)   // freed, and the TLB still maps it
                Sim.Report(KernelLog.Warning("guest-touched-freed-page",
                    $"BUG: guest access through a stale translation: gfn 0x{gfn:x} -> {p}, which the host has freed", $"{gfn}"));
        }
        await vcpu.mode.Write(kvm_vcpu.OUTSIDE_GUEST_MODE);   // the VM exit
    }

    /// <summary>Installs the SPTE (tdp_mmu_map_handle_target_level), checking I2 of §3.7: never inside an open invalidation.</summary>
    protected virtual async SimTask kvm_tdp_mmu_map(kvm k, long gfn, page p)
    {
        var (start, end) = (k.mmu_invalidate_range_start.Value, k.mmu_invalidate_range_end.Value);
        if (await k.mmu_invalidate_in_progress.Read() != 0 && gfn >= start && gfn < end)
            Sim.Report(KernelLog.Warning("spte-in-open-invalidation",
                $"BUG: SPTE for gfn 0x{gfn:x} installed while an invalidation of [0x{start:x}, 0x{end:x}) is open", $"{gfn}"));
        await k.sptes.Update(sptes => sptes.SetItem(gfn, p));
    }

    /// <summary>
    /// hva_to_pfn (virt/kvm/kvm_main.c): GUP of the page at hva, taking a reference. A present PTE is found without a
    /// fault (hva_to_pfn_fast: get_user_page_fast_only) and MMF_UNSTABLE does not refuse it: include/linux/oom.h
    /// check_stable_address_space is called, under the PTL, only where a fault would establish a new PTE
    /// (mm/memory.c do_anonymous_page, finish_fault), and then fails it with VM_FAULT_SIGBUS. So a vCPU fault or a gpc
    /// refresh still maps a page of a VMA the reaper has not reached (KERNEL-FACTS §8, correcting §2.6 step 1).
    /// </summary>
    public virtual async SimTask<page?> hva_to_pfn(kvm k, ulong hva)
    {
        using var fn = KernelFunction.Enter();
        var vma = k.mm.find_vma(hva);
        if (vma == null) return null;
        var p = await vma.ptep(hva).Read();
        // A none PTE: hva_to_pfn_slow would fault it in. The model's PTEs are none only after munmap (the kernel has
        // removed the VMA: -EFAULT) or after the reaper (check_stable_address_space: VM_FAULT_SIGBUS, -EFAULT), so
        // the model establishes no new PTE.
        if (p == null) return null;
        if (await p.refcount.Update(static r => r > 0 ? r + 1 : r) == 0) return null;   // get_page_unless_zero
        return p;
    }
}
