using System.Collections.Immutable;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using static Lockstep.Tests.MmTests.MmHarness;

namespace Lockstep.Tests.MmTests;

/// <summary>
/// munmap of a range over any VMAs (mm/vma.c do_vmi_munmap → do_vmi_align_munmap → vms_complete_munmap_vmas →
/// mm/memory.c unmap_vmas): one invalidation over the range as asked, holes included, every VMA in it zapped clipped to
/// the range, and no invalidation at all for a range no VMA overlaps. The mm has two VMAs of two pages,
/// [0x1000, 0x1002) and [0x3000, 0x3002), and one toy secondary MMU mapping all four pages; qemu's munmap runs alone
/// (one execution), so what each test checks is the sequence of notifier calls and what is left mapped.
/// </summary>
public class MunmapRangeTests
{
    private static readonly ulong[] Pages = [0x1000, 0x1001, 0x3000, 0x3001];

    /// <summary>
    /// Runs the munmap of [start, end), then checks that the toy saw exactly <paramref name="ranges"/> as its starts and
    /// ends, and that exactly the pages <paramref name="unmapped"/> lost their PTE and their toy mapping.
    /// </summary>
    private static ExplorationResult Munmap(ulong start, ulong end, (ulong start, ulong end)[] ranges, ulong[] unmapped) => Check(KernelConfig.Default, async k =>
    {
        var code = new Mm(k);
        var allocator = new PageAllocator(code);
        var vmas = new[] { new vm_area_struct(0x1000, 0x1002, VmFlags.None, true, allocator), new vm_area_struct(0x3000, 0x3002, VmFlags.None, true, allocator) };
        var mm = new mm_struct(code, allocator, vmas);
        var toy = new ToyMmu(k, "toy", ToyMmu.StartEnd);
        await code.stale_mappings.add(toy.maps);
        var maps = ImmutableDictionary<ulong, page>.Empty;   // the toy maps all four pages
        foreach (var hva in Pages) maps = maps.SetItem(hva, (await mm.find_vma(hva)!.ptep(hva).Read())!);
        await toy.spte.Write(maps);
        Sim.Assert(await code.mmu_notifier_register(toy.subscription, mm) == 0, "mmu_notifier_register failed");
        var munmap = k.kthread_run(() => code.do_munmap(mm, start, end), "qemu", 4992);
        await MmWorld.Join(munmap);
        Sim.Assert(toy.starts.Select(r => (r.start, r.end)).SequenceEqual(ranges), $"starts: {string.Join(", ", toy.starts.Select(r => $"[{r.start:x}, {r.end:x})"))}");
        Sim.Assert(toy.ends.Select(e => (e.range.start, e.range.end)).SequenceEqual(ranges), $"ends: {toy.ends.Count}");
        var mapped = await toy.spte.Read();
        foreach (var hva in Pages)
        {
            var pte = await mm.find_vma(hva)!.ptep(hva).Read();
            var gone = unmapped.Contains(hva);
            Sim.Assert((pte == null) == gone, $"PTE of 0x{hva:x}: {pte?.ToString() ?? "none"}");
            Sim.Assert(mapped.ContainsKey(hva) != gone, $"toy mapping of 0x{hva:x}: {mapped.ContainsKey(hva)}");
        }
    });

    private static void AssertClean(ExplorationResult r)
    {
        Assert.True(r.Exhaustive, Describe(r));
        Assert.Empty(r.Violations);
    }

    /// <summary>Both VMAs and the hole between them: one range [0x1000, 0x3002), all four pages unmapped and freed.</summary>
    [Fact]
    public void AMunmapOverTwoVmasAndTheHoleInvalidatesTheWholeRangeOnce()
        => AssertClean(Munmap(0x1000, 0x3002, [(0x1000, 0x3002)], Pages));

    /// <summary>From inside the first VMA to inside the second: the range as asked, each VMA clipped to it.</summary>
    [Fact]
    public void AMunmapOverPartsOfTwoVmasUnmapsOnlyTheRange()
        => AssertClean(Munmap(0x1001, 0x3001, [(0x1001, 0x3001)], [0x1001, 0x3000]));

    /// <summary>From the hole into the second VMA: the range still starts in the hole.</summary>
    [Fact]
    public void AMunmapStartingInTheHoleKeepsItsStart()
        => AssertClean(Munmap(0x2000, 0x3001, [(0x2000, 0x3001)], [0x3000]));

    /// <summary>Only the hole: do_vmi_munmap finds no VMA and returns 0 with no invalidation.</summary>
    [Fact]
    public void AMunmapOfTheHoleAloneInvalidatesNothing()
        => AssertClean(Munmap(0x1002, 0x3000, [], []));

    /// <summary>The check can fail: expecting the first VMA alone to be unmapped is a model assertion failure.</summary>
    [Fact]
    public void AWrongExpectationFails()
        => Assert.NotEmpty(Munmap(0x1000, 0x3002, [(0x1000, 0x3002)], [0x1000, 0x1001]).Violations);
}
