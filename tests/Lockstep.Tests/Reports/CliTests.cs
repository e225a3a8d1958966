using System.Text.Json;
using Lockstep.Reporting;

namespace Lockstep.Tests.Reporting;

/// <summary>The commands end to end on the real models: check --sarif/--json, graph, and where reports point in the kernel tree.</summary>
[Collection(nameof(Lockstep.Tests.Scripting.ConsoleCapture))]
public class CliTests
{
    private static string Temp(string name) => Path.Combine(Directory.CreateTempSubdirectory("lockstep-cli-").FullName, name);

    [Fact]
    public void CheckWritesSarifPointingAtTheModelledKernelFileAndTheUnchangedJson()
    {
        var sarif = Temp("check.sarif");
        var json = Temp("check.json");
        var exit = Lockstep.Cli.Program.Main(new[]
        {
            "check", "--proposal", "mainline", "--config", "rt", "--scenario", "oom-reap-vs-fault", "--sarif", sarif, "--json", json, "--quiet",
        });
        Assert.Equal(0, exit);

        using var j = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(new[] { "tool", "schema", "elapsed_seconds", "results" }, j.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal(1, j.RootElement.GetProperty("schema").GetInt32());
        var cells = j.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(12, cells.Count);
        Assert.All(cells, c => Assert.Equal(
            new[] { "proposal", "config", "property", "verdict", "executions", "exhaustive", "token", "scenario", "headline", "report" },
            c.EnumerateObject().Select(p => p.Name)));
        var s2 = cells.Single(c => c.GetProperty("verdict").GetString() == "violated");
        Assert.Equal("S2", s2.GetProperty("property").GetString());

        using var s = JsonDocument.Parse(File.ReadAllText(sarif));
        var result = Assert.Single(s.RootElement.GetProperty("runs")[0].GetProperty("results").EnumerateArray());
        Assert.Equal("S2", result.GetProperty("ruleId").GetString());
        Assert.Equal(s2.GetProperty("headline").GetString(), result.GetProperty("message").GetProperty("text").GetString());
        Assert.Equal(s2.GetProperty("token").GetString(), result.GetProperty("properties").GetProperty("token").GetString());
        var location = result.GetProperty("locations")[0];
        Assert.Equal("virt/kvm/kvm_main.c", location.GetProperty("physicalLocation").GetProperty("artifactLocation").GetProperty("uri").GetString());
        Assert.Equal("kvm_mmu_notifier_invalidate_range_start", location.GetProperty("logicalLocations")[0].GetProperty("name").GetString());
    }

    [Fact]
    public void GraphWritesDotWithTheRecursiveSrcuEdgeAndSvgWhenDotIsInstalled()
    {
        var dot = Temp("graph.dot");
        var args = new[] { "graph", "--proposal", "oom-enter-unregister", "--config", "default", "--scenario", "oom-reap-vs-fault", "-o", dot, "--quiet" };
        Assert.Equal(0, Lockstep.Cli.Program.Main(args));
        var text = File.ReadAllText(dot);
        Assert.Contains("digraph lockdep {", text);
        Assert.Matches(@"(n\d+) \[label=""srcu"", color=""#c62828""[^\n]*\n(.*\n)*  \1 -> \1 \[label=""recursive"", style=dashed", text);
        Assert.Contains("WARNING: possible recursive locking detected", text);
        var svg = Path.ChangeExtension(dot, ".svg");
        if (LockGraph.FindDot() != null)
            Assert.Contains("<svg", File.ReadAllText(svg));
        else
        {
            Assert.False(File.Exists(svg));
            Assert.Equal(2, Lockstep.Cli.Program.Main(new[] { "graph", "--scenario", "munmap-vs-fault", "-o", Temp("g.svg"), "--quiet" }));
        }
    }

    [Fact]
    public void GraphOfATokenHighlightsThatExecutionsReport()
    {
        var json = Temp("c.json");
        Assert.Equal(0, Lockstep.Cli.Program.Main(new[] { "check", "--proposal", "oom-enter-unregister", "--config", "default", "--scenario", "oom-reap-vs-fault", "--property", "S3", "--json", json, "--quiet" }));
        using var j = JsonDocument.Parse(File.ReadAllText(json));
        var token = j.RootElement.GetProperty("results")[0].GetProperty("token").GetString()!;
        var dot = Temp("t.dot");
        Assert.Equal(0, Lockstep.Cli.Program.Main(new[] { "graph", "--token", token, "-o", dot, "--quiet" }));
        Assert.Contains("label=\"recursive\"", File.ReadAllText(dot));
        Assert.Equal(2, Lockstep.Cli.Program.Main(new[] { "graph", "--token", token, "--config", "rt" }));
    }

    [Theory]
    [InlineData("kvm_mmu_notifier_invalidate_range_start", "virt/kvm/kvm_main.c")]
    [InlineData("kvm_handle_hva_range", "virt/kvm/kvm_main.c")]
    [InlineData("gfn_to_pfn_cache_invalidate_start", "virt/kvm/pfncache.c")]
    [InlineData("__oom_reap_task_mm", "mm/oom_kill.c")]
    [InlineData("mn_hlist_invalidate_range_start", "mm/mmu_notifier.c")]
    [InlineData("kvm_tdp_page_fault", "arch/x86/kvm/mmu/mmu.c")]
    [InlineData("__synchronize_srcu", "kernel/rcu/srcutree.c")]
    [InlineData("kvm_mmu_notifier_oom_enter", "virt/kvm/kvm_main.c")]
    [InlineData("do_send_sig_info", "kernel/signal.c")]
    public void FunctionsMapToTheKernelFilesTheModelsMirror(string function, string file)
        => Assert.Equal(file, KernelSources.FileOf(function));

    [Fact]
    public void ALocationIsTheInnermostFunctionInTheFileOfTheInnermostPlacedOne()
    {
        Assert.Equal(("some_helper", "mm/oom_kill.c"), KernelSources.Locate(new[] { "oom_reaper", "__oom_reap_task_mm", "some_helper" }));
        Assert.Equal(((string?)null, (string?)null), KernelSources.Locate(Array.Empty<string>()));
    }
}
