namespace Lockstep.Cli;

/// <summary>A bad command line: reported as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>"--name value" and "--flag" options plus positional arguments, checked against what a command accepts.</summary>
public sealed class Options
{
    private readonly Dictionary<string, List<string>> _values = new();
    private readonly HashSet<string> _flags = new();

    public List<string> Positional { get; } = new();

    public static Options Parse(IEnumerable<string> args, ISet<string> valued, ISet<string> flags)
    {
        var o = new Options();
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            var a = e.Current;
            if (!a.StartsWith("--", StringComparison.Ordinal)) { o.Positional.Add(a); continue; }
            var name = a[2..];
            string? inline = null;
            var eq = name.IndexOf('=');
            if (eq >= 0) { inline = name[(eq + 1)..]; name = name[..eq]; }
            if (flags.Contains(name) && inline == null) { o._flags.Add(name); continue; }
            if (!valued.Contains(name)) throw new UsageException($"unknown option '--{name}'");
            var value = inline ?? (e.MoveNext() ? e.Current : throw new UsageException($"option '--{name}' needs a value"));
            if (!o._values.TryGetValue(name, out var list)) o._values[name] = list = new List<string>();
            list.AddRange(value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
        return o;
    }

    public bool Flag(string name) => _flags.Contains(name);

    /// <summary>
    /// The options given, but those <paramref name="excluded"/>, as arguments in one canonical order (by name, "--name=v1,v2"
    /// or "--flag"): what two command lines that mean the same have in common, and <see cref="Parse"/> reads them back.
    /// </summary>
    public IReadOnlyList<string> Canonical(ISet<string> excluded)
        => _values.Where(kv => !excluded.Contains(kv.Key)).Select(kv => $"--{kv.Key}={string.Join(",", kv.Value)}")
            .Concat(_flags.Where(f => !excluded.Contains(f)).Select(f => $"--{f}"))
            .OrderBy(a => a, StringComparer.Ordinal).ToList();

    public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var v) ? v : Array.Empty<string>();

    public string? One(string name)
    {
        var all = All(name);
        if (all.Count > 1) throw new UsageException($"option '--{name}' takes one value");
        return all.Count == 1 ? all[0] : null;
    }

    public long Number(string name, long fallback, long min = 0)
    {
        var s = One(name);
        if (s == null) return fallback;
        if (!long.TryParse(s, out var n) || n < min) throw new UsageException($"option '--{name}' needs a whole number >= {min}, not '{s}'");
        return n;
    }
}
