using System.Security.Cryptography;
using System.Text;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;

namespace Lockstep.Models;

/// <summary>
/// A loadable set of proposals and scenarios: the built-in suite is one (<see cref="BuiltIn"/>), a user's .dll holds
/// others (public types implementing this, with a parameterless constructor), and a user's .csx script is one whose
/// top-level code calls <see cref="Registry.Register(Proposal)"/> and <see cref="Registry.Register(Scenario)"/> itself.
/// </summary>
public interface IExtension
{
    void Register(Registry registry);
}

/// <summary>Where a registered proposal or scenario came from: the built-in suite, or a user file and its content hash.</summary>
public sealed record Origin(string Name, string Hash)
{
    public static readonly Origin BuiltIn = new("built-in", "");

    public static Origin OfFile(string path, byte[] content) => new(Path.GetFileName(path), Convert.ToHexString(SHA256.HashData(content))[..16].ToLowerInvariant());

    public override string ToString() => Hash.Length == 0 ? Name : $"{Name} ({Hash})";
}

/// <summary>
/// The one registry every command resolves proposals and scenarios through: check, explain, graph, tokens and the
/// reports. Built-in and user extensions register the same way; an id is registered once.
/// </summary>
public sealed class Registry
{
    private readonly List<Proposal> _proposals = new();
    private readonly List<Scenario> _scenarios = new();
    private readonly Dictionary<object, Origin> _origins = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, string[]> _warnings = new();
    private Origin _loading = Origin.BuiltIn;

    public IReadOnlyList<Proposal> Proposals => _proposals;

    public IReadOnlyList<Scenario> Scenarios => _scenarios;

    /// <summary>A registry with the built-in suite loaded.</summary>
    public static Registry WithBuiltIns()
    {
        var registry = new Registry();
        registry.Load(new BuiltIn(), Origin.BuiltIn);
        return registry;
    }

    /// <summary>Registers everything <paramref name="extension"/> registers, as coming from <paramref name="origin"/>.</summary>
    public void Load(IExtension extension, Origin origin) => Loading(origin, () => extension.Register(this));

    /// <summary>Runs <paramref name="register"/> (a script's top-level code, say) with what it registers attributed to <paramref name="origin"/>.</summary>
    public void Loading(Origin origin, Action register)
    {
        var before = _loading;
        _loading = origin;
        try { register(); }
        finally { _loading = before; }
    }

    public void Register(Proposal proposal)
    {
        if (_proposals.FirstOrDefault(p => p.Id == proposal.Id) is { } other)
            throw new ArgumentException($"proposal '{proposal.Id}' is registered twice ({_origins[other]} and {_loading})");
        _proposals.Add(proposal);
        _origins[proposal] = _loading;
    }

    public void Register(Scenario scenario)
    {
        if (_scenarios.FirstOrDefault(s => s.Id == scenario.Id) is { } other)
            throw new ArgumentException($"scenario '{scenario.Id}' is registered twice ({_origins[other]} and {_loading})");
        _scenarios.Add(scenario);
        _origins[scenario] = _loading;
    }

    /// <summary>
    /// Maps a kind of report a user's check makes (<c>KernelLog.Warning(kind, ...)</c>) to the properties it violates; the
    /// built-in kinds are in <see cref="Properties.Table"/>.
    /// </summary>
    public void RegisterWarning(string kind, params string[] properties)
    {
        if (Properties.Of(kind).Count > 0 || _warnings.ContainsKey(kind))
            throw new ArgumentException($"report kind '{kind}' is mapped already (to {string.Join(",", PropertiesOf(kind))})");
        if (properties.Length == 0 || properties.Any(p => !Properties.Ids.Contains(p)))
            throw new ArgumentException($"report kind '{kind}' needs known properties (known: {string.Join(", ", Properties.Ids)})");
        _warnings[kind] = properties;
    }

    /// <summary>The properties a kind of report violates: the table's, else a registered user kind's; none if unknown.</summary>
    public IReadOnlyList<string> PropertiesOf(string kind)
        => Properties.Of(kind) is { Count: > 0 } builtIn ? builtIn : _warnings.TryGetValue(kind, out var user) ? user : Array.Empty<string>();

    public Origin OriginOf(Proposal proposal) => _origins[proposal];

    public Origin OriginOf(Scenario scenario) => _origins[scenario];

    public IEnumerable<Proposal> ProposalsFrom(Origin origin) => _proposals.Where(p => _origins[p] == origin);

    public IEnumerable<Scenario> ScenariosFrom(Origin origin) => _scenarios.Where(s => _origins[s] == origin);

    /// <exception cref="ArgumentException">No proposal has that id.</exception>
    public Proposal Proposal(string id) => _proposals.FirstOrDefault(p => p.Id == id)
        ?? throw new ArgumentException($"unknown proposal '{id}' (known: {string.Join(", ", _proposals.Select(p => p.Id))})");

    /// <exception cref="ArgumentException">No scenario has that id.</exception>
    public Scenario Scenario(string id) => _scenarios.FirstOrDefault(s => s.Id == id)
        ?? throw new ArgumentException($"unknown scenario '{id}' (known: {string.Join(", ", _scenarios.Select(s => s.Id))})");

    /// <summary>
    /// The fingerprint of the model a proposal × scenario run executes: Lockstep's version and the content hashes of the
    /// user files that define the two. A token carries it, so that it is never replayed against other code.
    /// </summary>
    public string Fingerprint(Proposal proposal, Scenario scenario)
    {
        var text = $"{Version}|{OriginOf(proposal).Hash}|{OriginOf(scenario).Hash}";
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..8].ToLowerInvariant();
    }

    /// <summary>Lockstep's version as the model assembly states it.</summary>
    public static string Version { get; } =
        typeof(Registry).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion.Split('+')[0] ?? "0";
}
