using System.Text.Json;
using Lockstep.Reporting;

namespace Lockstep.Tests.Reporting;

/// <summary>The commands end to end on the real models: check --sarif/--json, graph, and where reports point in the kernel tree.</summary>
[Collection(nameof(Lockstep.Tests.Scripting.ConsoleCapture))]
public class CliTests
{
    private static string Temp(string name) => Path.Combine(Directory.CreateTempSubdirectory("lockstep-cli-").FullName, name);

    [Fact]
    public void CheckWritesSarifPointingAtTheModelledKernelFileAndTheSchemaOfItsJson()
    {
        var sarif = Temp("check.sarif");
        var json = Temp("check.json");
        var exit = Lockstep.Cli.Program.Main(new[]
        {
            "check", "--proposal", "mainline", "--config", "rt", "--scenario", "oom-reap-vs-fault", "--sarif", sarif, "--json", json, "--quiet",
        });
        Assert.Equal(0, exit);

        using var j = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(new[] { "tool", "schema", "baseline", "elapsed_seconds", "results" }, j.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal((2, "mainline"), (j.RootElement.GetProperty("schema").GetInt32(), j.RootElement.GetProperty("baseline").GetString()));
        var cells = j.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(12, cells.Count);
        Assert.All(cells, c => Assert.Equal(
            new[] { "proposal", "config", "property", "verdict", "executions", "exhaustive", "bounded", "findings", "new", "kept", "fixed" },
            c.EnumerateObject().Select(p => p.Name)));
        var s2 = cells.Single(c => c.GetProperty("verdict").GetString() == "violated");
        Assert.Equal("S2", s2.GetProperty("property").GetString());
        var findings = s2.GetProperty("findings").EnumerateArray().ToList();
        Assert.All(findings, f => Assert.Equal(
            new[] { "scenario", "signature", "change", "headline", "token", "executions", "found_by", "report" },
            f.EnumerateObject().Select(p => p.Name)));
        Assert.Equal(6, findings.Count);   // every sleeping lock of the reaper's start and end (FindingsTests names them)

        using var s = JsonDocument.Parse(File.ReadAllText(sarif));
        var results = s.RootElement.GetProperty("runs")[0].GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(findings.Select(f => f.GetProperty("token").GetString()), results.Select(r => r.GetProperty("properties").GetProperty("token").GetString()));
        Assert.All(results, r => Assert.False(r.TryGetProperty("baselineState", out _)));   // mainline's own row is compared with nothing
        var result = results[0];
        Assert.Equal("S2", result.GetProperty("ruleId").GetString());
        Assert.Equal(findings[0].GetProperty("headline").GetString(), result.GetProperty("message").GetProperty("text").GetString());
        var location = result.GetProperty("locations")[0];
        Assert.Equal("virt/kvm/kvm_main.c", location.GetProperty("physicalLocation").GetProperty("artifactLocation").GetProperty("uri").GetString());
        Assert.Equal("kvm_mmu_notifier_invalidate_range_start", location.GetProperty("logicalLocations")[0].GetProperty("name").GetString());
        // each finding is located at its own function
        Assert.Equal("gfn_to_pfn_cache_invalidate_start", results[1].GetProperty("locations")[0].GetProperty("logicalLocations")[0].GetProperty("name").GetString());
        Assert.Equal("virt/kvm/pfncache.c", results[1].GetProperty("locations")[0].GetProperty("physicalLocation").GetProperty("artifactLocation").GetProperty("uri").GetString());
    }

    [Fact]
    public void BoundedCellsAreBoundedInTheJsonAndDoNotFailTheRun()
    {
        var json = Temp("bounded.json");
        var exit = Lockstep.Cli.Program.Main(new[]
        {
            "check", "--proposal", "mainline", "--config", "default", "--scenario", "oom-reap-vs-exit", "--step-budget", "100000", "--json", json, "--quiet", "--fail-on-violation",
        });
        Assert.Equal(0, exit);
        using var j = JsonDocument.Parse(File.ReadAllText(json));
        var cells = j.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.All(cells, c => Assert.Equal(("bounded", false), (c.GetProperty("verdict").GetString(), c.GetProperty("exhaustive").GetBoolean())));
        var bounded = Assert.Single(cells[0].GetProperty("bounded").EnumerateArray());
        Assert.Equal(("dpor", "step budget"), (bounded.GetProperty("strategy").GetString(), bounded.GetProperty("stopped_by").GetString()));
        Assert.Equal("pct(d=3, seed=1)", bounded.GetProperty("fallback").GetProperty("strategy").GetString());
        Assert.StartsWith("dpor stopped at the step budget after ", bounded.GetProperty("text").GetString());
    }

    [Theory]
    [InlineData("lockstep: --fail-on new needs a baseline (not --baseline none)", "--fail-on", "new", "--baseline", "none")]
    [InlineData("lockstep: --fail-on takes new or any, not 'some'", "--fail-on", "some")]
    [InlineData("lockstep: --fail-on-violation is --fail-on any; give one of them", "--fail-on", "new", "--fail-on-violation")]
    [InlineData("lockstep: unknown proposal 'nope' (known: mainline, raw-mn-invalidate-lock, atomic-count, defer-nonblock-work, defer-nonblock-work-eagain, oom-enter-unregister, oom-enter-flag, oom-enter-call-srcu, oom-enter-zap-dead)", "--baseline", "nope")]
    public void ABadBaselineOrFailOnIsOneLineAndExitTwo(string message, params string[] args)
    {
        var error = new StringWriter();
        var before = Console.Error;
        Console.SetError(error);
        try { Assert.Equal(2, Lockstep.Cli.Program.Main(new[] { "check", "--scenario", "munmap-vs-fault" }.Concat(args).ToArray())); }
        finally { Console.SetError(before); }
        Assert.Equal(message, error.ToString().TrimEnd());
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
        var token = j.RootElement.GetProperty("results").EnumerateArray().Single(c => c.GetProperty("proposal").GetString() == "oom-enter-unregister")
            .GetProperty("findings")[0].GetProperty("token").GetString()!;
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
