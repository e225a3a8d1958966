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
    public virtual bool kvm_unmap_gfn_range(kvm k, long start, long end)
    {
        var flush = false;
        for (var gfn = start; gfn < end; gfn++) flush |= k.sptes.Remove(gfn);
        return flush;
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
        if (kvm_unmap_gfn_range(k, slot.base_gfn, slot.base_gfn + slot.npages))
            await kvm_code.kvm_flush_remote_tlbs(k);   // kvm_flush_remote_tlbs_memslot
        await KVM_MMU_UNLOCK(k.mmu_lock);
    }

    public virtual bool kvm_age_gfn(kvm k, kvm_memory_slot slot, long start, long end)
    {
        for (var gfn = start; gfn < end; gfn++)
            if (k.sptes.ContainsKey(gfn)) return true;
        return false;
    }

    /// <summary>is_page_fault_stale (arch/x86/kvm/mmu/mmu.c), mmu_lock held: the invalidation check of §3.6.</summary>
    public virtual SimTask<bool> is_page_fault_stale(kvm k, long mmu_seq, long gfn) => mmu_invalidate_retry_gfn(k, mmu_seq, gfn);

    /// <summary>mmu_invalidate_retry_gfn (include/linux/kvm_host.h; mmu_lock held): retry if an open invalidation covers gfn or the seq moved.</summary>
    public virtual async SimTask<bool> mmu_invalidate_retry_gfn(kvm k, long mmu_seq, long gfn)
    {
        if (k.mmu_invalidate_in_progress != 0)
        {
            if (k.mmu_invalidate_range_start == kvm.INVALID_GPA)
            {
                Sim.Report(KernelLog.Warning("in-progress-no-range", "WARNING: mmu_invalidate_in_progress without a recorded range", "retry_gfn"));
                return true;
            }
            if (gfn >= k.mmu_invalidate_range_start && gfn < k.mmu_invalidate_range_end) return true;
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
                return false;   // -EFAULT: the mm is being torn down (MMF_UNSTABLE) or unmapped
            }
            await read_lock(k.mmu_lock);   // read_lock where mmu_lock is an rwlock_t (KVM_HAVE_MMU_RWLOCK), spin_lock where it is a spinlock_t
            var stale = await is_page_fault_stale(k, mmu_seq, gfn);
            if (!stale) kvm_tdp_mmu_map(k, gfn, page);
            await read_unlock(k.mmu_lock);
            await k.mm.allocator.put_page(page);   // kvm_release_faultin_page
            await srcu_read_unlock(k.srcu, idx);
            if (!stale) return true;
            await Sim.Yield();   // RET_PF_RETRY: the vCPU re-enters the guest and faults again
        }
        return false;
    }

    /// <summary>
    /// The vCPU in guest mode accesses gfn: the TLB's translation if it has one, else the hardware walks the SPTE (no
    /// lock) and caches it — one step, since a flush IPI waits for the access in progress. Touching a freed page is the
    /// use-after-free S1 protects against.
    /// </summary>
    public virtual async SimTask vcpu_enter_guest(kvm_vcpu vcpu, long gfn)
    {
        using var fn = KernelFunction.Enter();
        var k = vcpu.kvm;
        var cached = await vcpu.tlb.Update(t => t.ContainsKey(gfn) || !k.sptes.TryGetValue(gfn, out var spte) ? t : t.SetItem(gfn, spte));
        if (!cached.TryGetValue(gfn, out var p) && !k.sptes.TryGetValue(gfn, out p)) return;   // EPT violation: a fault, not an access
        await p.refcount.Read();   // the access: ordered against put_page's last reference drop, which frees the page
        if (p.freed && vcpu.tlb.Peek.GetValueOrDefault(gfn) == p)
            Sim.Report(KernelLog.Warning("guest-touched-freed-page",
                $"BUG: guest access through a stale translation: gfn 0x{gfn:x} -> {p}, which the host has freed", $"{gfn}"));
    }

    /// <summary>Installs the SPTE (tdp_mmu_map_handle_target_level), checking I2 of §3.7: never inside an open invalidation.</summary>
    protected virtual void kvm_tdp_mmu_map(kvm k, long gfn, page p)
    {
        if (k.mmu_invalidate_in_progress != 0 && gfn >= k.mmu_invalidate_range_start && gfn < k.mmu_invalidate_range_end)
            Sim.Report(KernelLog.Warning("spte-in-open-invalidation",
                $"BUG: SPTE for gfn 0x{gfn:x} installed while an invalidation of [0x{k.mmu_invalidate_range_start:x}, 0x{k.mmu_invalidate_range_end:x}) is open", $"{gfn}"));
        k.sptes[gfn] = p;
    }

    /// <summary>hva_to_pfn via GUP: fails on an unstable mm (§2.6 step 1); takes a page reference.</summary>
    public virtual async SimTask<page?> hva_to_pfn(kvm k, ulong hva)
    {
        using var fn = KernelFunction.Enter();
        if ((await k.mm.flags.Read() & MmFlags.MMF_UNSTABLE) != 0) return null;
        var vma = k.mm.find_vma(hva);
        if (vma == null) return null;
        var p = await vma.pte[hva - vma.vm_start].Read();
        if (p == null) return null;
        if (await p.refcount.Update(static r => r > 0 ? r + 1 : r) == 0) return null;   // get_page_unless_zero
        return p;
    }
}
