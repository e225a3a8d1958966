using System.Text.Json;
using Lockstep.Tests.Scripting;

namespace Lockstep.Tests.Reporting;

/// <summary>`check` announces each finding when an execution first makes it, once per row, property and signature; not with --quiet.</summary>
public sealed class FoundLinesTests : CommandLineTest
{
    [Fact]
    public void EachFindingIsAnnouncedOnceWhenFoundBeforeItsRunEnds()
    {
        var json = Path.Combine(_directory, "c.json");
        var (exit, _, error) = Run("check", "--proposal", "mainline", "--config", "rt", "--scenario", "oom-reap-vs-fault,oom-reap-vs-fault-riscv", "--jobs", "1", "--json", json);
        Assert.Equal(0, exit);
        var lines = error.Split('\n').Select(l => l.TrimEnd()).ToList();
        var found = lines.Where(l => l.StartsWith("found ")).ToList();
        using var j = JsonDocument.Parse(File.ReadAllText(json));
        var distinct = j.RootElement.GetProperty("results").EnumerateArray().SelectMany(c => c.GetProperty("findings").EnumerateArray()
            .Select(f => (c.GetProperty("property").GetString(), f.GetProperty("signature").GetString()))).Distinct().ToList();
        Assert.Equal(7, distinct.Count);   // six on oom-reap-vs-fault (CliTests), riscv's spinlock_t mmu_lock besides
        Assert.Equal(distinct.Count, found.Count);
        var first = found[0];
        Assert.StartsWith("found S2 in mainline rt [oom-reap-vs-fault]: BUG: sleeping function called from invalid context at kernel/locking/spinlock_rt.c:", first);
        Assert.Matches(@"\(might-sleep:[^;]+; token mainline/rt/oom-reap-vs-fault/[0-9a-f]{8}/\S+\)$", first);
        Assert.True(lines.IndexOf(first) < lines.FindIndex(l => l.Contains("mainline × rt × oom-reap-vs-fault:")), "announced before its run ended");
        Assert.DoesNotContain("found ", Run("check", "--proposal", "mainline", "--config", "rt", "--scenario", "oom-reap-vs-fault", "--quiet").Error);
    }
}
