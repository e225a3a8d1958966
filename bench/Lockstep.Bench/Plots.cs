using ScottPlot;

namespace Lockstep.Bench;

/// <summary>The scaling curves as PNGs under bench/results/ (ScottPlot): DPOR and enumeration, capped points hollow.</summary>
public static class Plots
{
    public static string Save(string name, string title, string xLabel, string yLabel, bool log,
        IReadOnlyList<(int X, Scaling.Measured Dpor, Scaling.Measured Enum)> points, Func<Scaling.Measured, double> value)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel + (log ? " (log scale)" : ""));
        double Y(Scaling.Measured m) => log ? Math.Log10(Math.Max(1, value(m))) : value(m);
        foreach (var (label, pick, color) in new (string, Func<(int X, Scaling.Measured Dpor, Scaling.Measured Enum), Scaling.Measured>, Color)[]
                 { ("DPOR", p => p.Dpor, Colors.Blue), ("enumeration (no reduction)", p => p.Enum, Colors.OrangeRed) })
        {
            var line = plot.Add.Scatter(points.Select(p => (double)p.X).ToArray(), points.Select(p => Y(pick(p))).ToArray(), color);
            line.LegendText = label;
            line.MarkerSize = 8;
            var capped = points.Where(p => pick(p).Capped).ToList();
            if (capped.Count == 0) continue;
            var marks = plot.Add.Markers(capped.Select(p => (double)p.X).ToArray(), capped.Select(p => Y(pick(p))).ToArray(), MarkerShape.OpenCircle, 16, color);
            marks.LegendText = $"{label}, capped at the time limit (a lower bound)";
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
        if (log)
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                IntegerTicksOnly = true,
                LabelFormatter = y => $"{Math.Pow(10, y):N0}",
            };
        plot.ShowLegend(Edge.Bottom);
        Directory.CreateDirectory(Results.Directory);
        var path = Path.Combine(Results.Directory, name + ".png");
        plot.SavePng(path, 800, 560);
        return path;
    }
}
