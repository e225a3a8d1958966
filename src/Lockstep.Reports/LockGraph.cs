using System.Diagnostics;
using System.Text;
using Lockstep.Kernel;

namespace Lockstep.Reporting;

/// <summary>
/// Lockdep's dependency graph of a run (every class, every "B acquired while A held" edge with its kinds) as Graphviz
/// DOT, with the cycle of a circular-dependency report or the edge of a recursive-locking report in red.
/// </summary>
public static class LockGraph
{
    /// <summary>A lock class: its name and lockdep wait type.</summary>
    public sealed record Node(string Name, WaitType WaitType);

    /// <summary>An edge A -> B: B was acquired while A was held; kinds as lockdep prints them (-(EN)->, -(SR)->, ...); where it was first recorded.</summary>
    public sealed record Edge(string From, string To, IReadOnlyList<string> Kinds, IReadOnlyList<string> Stack, IReadOnlyList<string> Runs);

    /// <summary>A report's chain to highlight (<see cref="KernelReport.LockChain"/>) and its headline.</summary>
    public sealed record Highlight(string Headline, IReadOnlyList<string> Chain);

    /// <summary>The graph of one proposal × config (the union over the runs, e.g. scenarios, that built it).</summary>
    public sealed record Graph(string Title, IReadOnlyList<Node> Nodes, IReadOnlyList<Edge> Edges, IReadOnlyList<Highlight> Highlights);

    private static readonly string[] KindNames = { "EN", "ER", "SN", "SR" };

    /// <summary>
    /// Merges the lockdep graphs of runs (a run label and its kernel; one kernel's graph spans all executions of its run)
    /// and the lockdep reports to highlight.
    /// </summary>
    public static Graph Build(string title, IEnumerable<(string Run, Lockdep Lockdep)> runs, IEnumerable<KernelReport> reports)
    {
        var nodes = new List<Node>();
        var seen = new HashSet<string>();
        var edges = new Dictionary<(string, string), (int Kinds, IReadOnlyList<string> Stack, List<string> Runs)>();
        var order = new List<(string, string)>();
        foreach (var (run, lockdep) in runs)
        {
            foreach (var c in lockdep.Classes)
                if (seen.Add(c.Name)) nodes.Add(new Node(c.Name, c.WaitType));
            var deps = lockdep.Dependencies.ToList();
            var ids = lockdep.Classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i);
            foreach (var d in deps.OrderBy(d => ids[d.From]).ThenBy(d => ids[d.To]))
            {
                var key = (d.From.Name, d.To.Name);
                if (edges.TryGetValue(key, out var e))
                {
                    if (!e.Runs.Contains(run)) e.Runs.Add(run);
                    edges[key] = (e.Kinds | d.Kinds, e.Stack, e.Runs);
                }
                else
                {
                    edges[key] = (d.Kinds, d.Stack, new List<string> { run });
                    order.Add(key);
                }
            }
        }
        var highlights = new List<Highlight>();
        foreach (var r in reports)
            if (r.LockChain is { Count: >= 2 } chain && highlights.All(h => !h.Chain.SequenceEqual(chain)))
            {
                highlights.Add(new Highlight(r.Message, chain));
                foreach (var name in chain)
                    if (seen.Add(name)) nodes.Add(new Node(name, WaitType.Inv));
            }
        var list = order.Select(k =>
        {
            var e = edges[k];
            var kinds = Enumerable.Range(0, 4).Where(b => (e.Kinds & (1 << b)) != 0).Select(b => KindNames[b]).ToList();
            return new Edge(k.Item1, k.Item2, kinds, e.Stack, e.Runs);
        }).ToList();
        return new Graph(title, nodes, list, highlights);
    }

    /// <summary>One graph as a digraph; several as one digraph with a cluster each.</summary>
    public static string Dot(IReadOnlyList<Graph> graphs)
    {
        var sb = new StringBuilder();
        sb.Append("// lockdep dependency graph written by lockstep graph: an edge A -> B means B was acquired while A was held\n");
        sb.Append("// (lockdep's -(EN)-> etc.: E/S = A held exclusive/shared, N/R = B taken non-recursive/recursive-read);\n");
        sb.Append("// red: the chain of a lockdep report (dashed: the dependency the report refused to add)\n");
        sb.Append("digraph lockdep {\n");
        sb.Append("  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, labelloc=t];\n");
        sb.Append("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f4f6f8\", fontname=\"Helvetica\", fontsize=11];\n");
        sb.Append("  edge [fontname=\"Helvetica\", fontsize=9, color=\"#607d8b\"];\n");
        if (graphs.Count == 1) Body(sb, graphs[0], "", "  ", title: true);
        else
            for (var g = 0; g < graphs.Count; g++)
            {
                sb.Append($"  subgraph \"cluster_{g}\" {{\n    label={Q(graphs[g].Title)};\n");
                Body(sb, graphs[g], $"g{g}_", "    ", title: false);
                sb.Append("  }\n");
            }
        sb.Append("}\n");
        return sb.ToString();
    }

    private static void Body(StringBuilder sb, Graph g, string prefix, string indent, bool title)
    {
        if (title) sb.Append($"{indent}label={Q(g.Title + (g.Highlights.Count > 0 ? "\\n" + string.Join("\\n", g.Highlights.Select(h => h.Headline)) : ""))};\n");
        var ids = g.Nodes.Select((n, i) => (n.Name, i)).ToDictionary(x => x.Name, x => $"{prefix}n{x.i}");
        var hot = g.Highlights.SelectMany(h => h.Chain).ToHashSet();
        var connected = g.Edges.SelectMany(e => new[] { e.From, e.To }).ToHashSet();
        var hotEdges = new HashSet<(string, string)>();
        foreach (var h in g.Highlights)
            for (var i = 0; i + 1 < h.Chain.Count; i++) hotEdges.Add((h.Chain[i], h.Chain[i + 1]));
        if (g.Nodes.Count == 0) sb.Append($"{indent}{prefix}empty [label=\"no lock dependencies recorded\", shape=plaintext, style=\"\"];\n");
        foreach (var n in g.Nodes)
        {
            var attrs = $"label={Q(n.Name + (n.WaitType == WaitType.Inv ? "" : "\\n" + WaitName(n.WaitType)))}";
            if (hot.Contains(n.Name)) attrs += ", color=\"#c62828\", penwidth=2, fillcolor=\"#fdecea\"";
            else if (!connected.Contains(n.Name)) attrs += ", color=\"#b0bec5\", fontcolor=\"#78909c\"";   // no dependency recorded
            sb.Append($"{indent}{ids[n.Name]} [{attrs}];\n");
        }
        foreach (var e in g.Edges)
        {
            var attrs = $"label={Q(string.Join(",", e.Kinds))}, tooltip={Q("first recorded in " + string.Join(" < ", e.Stack.Reverse()) + " [" + string.Join(", ", e.Runs) + "]")}";
            if (hotEdges.Remove((e.From, e.To))) attrs += ", color=\"#c62828\", fontcolor=\"#c62828\", penwidth=2.5";
            sb.Append($"{indent}{ids[e.From]} -> {ids[e.To]} [{attrs}];\n");
        }
        // the dependencies a report names but the graph does not hold: the one lockdep refused, a recursive acquisition
        foreach (var h in g.Highlights)
            for (var i = 0; i + 1 < h.Chain.Count; i++)
                if (hotEdges.Remove((h.Chain[i], h.Chain[i + 1])))
                {
                    var label = h.Chain[i] == h.Chain[i + 1] ? "recursive" : "new";
                    sb.Append($"{indent}{ids[h.Chain[i]]} -> {ids[h.Chain[i + 1]]} [label={Q(label)}, style=dashed, color=\"#c62828\", fontcolor=\"#c62828\", penwidth=2.5, tooltip={Q(h.Headline)}];\n");
                }
    }

    private static string WaitName(WaitType w) => w switch
    {
        WaitType.Free => "wait: free",
        WaitType.Spin => "wait: spin",
        WaitType.Config => "wait: config",
        WaitType.Sleep => "wait: sleep",
        _ => "",
    };

    private static string Q(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\\\\n", "\\n") + "\"";

    /// <summary>Graphviz's dot on PATH, or null.</summary>
    public static string? FindDot()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, OperatingSystem.IsWindows() ? "dot.exe" : "dot");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Renders DOT to SVG with dot.</summary>
    /// <exception cref="IOException">dot failed.</exception>
    public static string Svg(string dotExecutable, string dot)
    {
        var psi = new ProcessStartInfo(dotExecutable, "-Tsvg") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new IOException("could not start dot");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(dot);
        p.StandardInput.Close();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new IOException($"dot failed ({p.ExitCode}): {stderr.Result.Trim()}");
        return stdout.Result;
    }
}
