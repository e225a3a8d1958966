using System.Globalization;
using System.Runtime.CompilerServices;

namespace Lockstep.Bench;

/// <summary>What the comparison modes share: the repository's place, medians, and CSV files under bench/results/.</summary>
public static class Results
{
    public static string Repository([CallerFilePath] string here = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));

    public static string Directory => Path.Combine(Repository(), "bench", "results");

    public static double Median(IEnumerable<double> xs)
    {
        var s = xs.OrderBy(x => x).ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    /// <summary>Writes bench/results/<paramref name="name"/>.csv (invariant culture) and returns its path.</summary>
    public static string WriteCsv(string name, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<object>> rows)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var path = Path.Combine(Directory, name + ".csv");
        using var w = new StreamWriter(path);
        w.WriteLine(string.Join(',', header));
        foreach (var row in rows) w.WriteLine(string.Join(',', row.Select(Cell)));
        return path;
    }

    private static string Cell(object v) => v switch
    {
        double d => d.ToString("0.######", CultureInfo.InvariantCulture),
        bool b => b ? "yes" : "no",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString()!.Contains(',') ? $"\"{v}\"" : v.ToString()!,
    };
}
