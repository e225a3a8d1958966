using System.Collections.Immutable;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.lib;

/// <summary>
/// struct dmirror of lib/test_hmm.c: the kernel's own HMM test driver, a device that mirrors part of a process's address
/// space through an interval notifier (KERNEL-FACTS §1.9). Its page table holds no page references: it relies on the
/// notifier to clear entries before the pages go, so a freed page it still maps is S1.
/// </summary>
public sealed class dmirror
{
    public dmirror(Kernel.Kernel kernel, string name)
    {
        this.name = name;
        mutex = new mutex(kernel, "&dmirror->mutex");
        pt = new Shared<ImmutableDictionary<ulong, page>>($"{name}->pt", ImmutableDictionary<ulong, page>.Empty);
        notifier = new mmu_interval_notifier($"{name}->notifier", container: this);
    }

    public readonly string name;
    public readonly KernelLock mutex;
    public readonly mmu_interval_notifier notifier;

    /// <summary>The device page table (an XArray indexed by pfn in the driver; by hva here, PAGE_SIZE = 1).</summary>
    public readonly Shared<ImmutableDictionary<ulong, page>> pt;

    /// <summary>The S1 oracle: read at the instant a page is freed.</summary>
    public async SimTask<string?> maps(page p)
    {
        foreach (var (hva, q) in await pt.Read())
            if (q == p) return $"{name} device page table hva 0x{hva:x} -> {p}";
        return null;
    }
}

/// <summary>lib/test_hmm.c: the interval-notifier callbacks and the device fault of struct dmirror.</summary>
public class TestHmm : mmu_interval_notifier_ops
{
    public TestHmm(Mm mm_code) => this.mm_code = mm_code;

    protected readonly Mm mm_code;

    /// <summary>dmirror_fops open + mmu_interval_notifier_insert over [start, start + length) of the process.</summary>
    public virtual async SimTask<dmirror> dmirror_fops_open(mm_struct mm, ulong start, ulong length, string name)
    {
        using var fn = KernelFunction.Enter();
        var d = new dmirror(mm_code.kernel, name);
        var ret = await mm_code.mmu_interval_notifier_insert(d.notifier, mm, start, length, this);
        Sim.Assert(ret == 0, $"mmu_interval_notifier_insert returned {ret}");
        return d;
    }

    public override SimTask<bool> invalidate(mmu_interval_notifier interval_sub, mmu_notifier_range range, ulong cur_seq)
        => dmirror_interval_invalidate(interval_sub, range, cur_seq);

    /// <summary>Blockable: mutex_lock; else mutex_trylock or fail; then set the seq and clear the range, under the mutex.</summary>
    public virtual async SimTask<bool> dmirror_interval_invalidate(mmu_interval_notifier mni, mmu_notifier_range range, ulong cur_seq)
    {
        using var fn = KernelFunction.Enter();
        var d = (dmirror)mni.container!;
        if (range.mmu_notifier_range_blockable()) await mutex_lock(d.mutex);
        else if (!await mutex_trylock(d.mutex)) return false;
        await Mm.mmu_interval_set_seq(mni, cur_seq);
        await dmirror_do_update(d, range.start, range.end);
        await mutex_unlock(d.mutex);
        return true;
    }

    /// <summary>Clears the device entries of [start, end) (they hold no page reference).</summary>
    protected virtual async SimTask dmirror_do_update(dmirror d, ulong start, ulong end)
        => await d.pt.Update(pt => pt.RemoveRange(pt.Keys.Where(h => h >= start && h < end).ToList()));

    /// <summary>
    /// dmirror_range_fault for one page: read_begin, hmm_range_fault under the mmap read lock, then under the driver mutex
    /// retry if an invalidation ran, else install (dmirror_do_fault). Bounded retries stand for "fault again later".
    /// </summary>
    public virtual async SimTask<bool> dmirror_range_fault(dmirror d, mm_struct mm, ulong hva)
    {
        using var fn = KernelFunction.Enter();
        for (var attempt = 0; attempt <= RANGE_FAULT_RETRIES; attempt++)
        {
            var seq = await mm_code.mmu_interval_read_begin(d.notifier);
            await down_read(mm.mmap_lock);
            var p = await hmm_range_fault(mm, hva);
            await up_read(mm.mmap_lock);
            if (p == null) return false;
            await mutex_lock(d.mutex);
            if (await Mm.mmu_interval_read_retry(d.notifier, seq))
            {
                await mutex_unlock(d.mutex);
                continue;
            }
            await d.pt.Update(pt => pt.SetItem(hva, p));   // dmirror_do_fault
            await mutex_unlock(d.mutex);
            return true;
        }
        return false;
    }

    public const int RANGE_FAULT_RETRIES = 2;

    /// <summary>hmm_range_fault of one present page: the CPU page table entry, no reference taken.</summary>
    protected virtual async SimTask<page?> hmm_range_fault(mm_struct mm, ulong hva)
    {
        using var fn = KernelFunction.Enter();
        var vma = mm.find_vma(hva);
        return vma == null ? null : await vma.ptep(hva).Read();
    }
}
