namespace Lockstep.Engine;

/// <summary>
/// The replay token of an execution: the thread chosen at each step where more than one could run,
/// run-length encoded as varints, in base64url. "s1." marks the format.
/// </summary>
public static class Schedule
{
    private const string Prefix = "s1.";

    public static string Encode(IReadOnlyList<byte> choices)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < choices.Count;)
        {
            var t = choices[i];
            var run = 1;
            while (i + run < choices.Count && choices[i + run] == t) run++;
            var v = ((ulong)(run - 1) << 5) | t;
            do
            {
                var b = (byte)(v & 0x7F);
                v >>= 7;
                bytes.Add(v != 0 ? (byte)(b | 0x80) : b);
            } while (v != 0);
            i += run;
        }
        return Prefix + Convert.ToBase64String(bytes.ToArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <exception cref="FormatException">The text is not a schedule.</exception>
    public static byte[] Decode(string token)
    {
        if (!token.StartsWith(Prefix, StringComparison.Ordinal))
            throw new FormatException($"'{token}' is not a schedule (expected it to start with '{Prefix}')");
        var b64 = token[Prefix.Length..].Replace('-', '+').Replace('_', '/');
        b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(b64);
        }
        catch (FormatException)
        {
            throw new FormatException($"'{token}' is not a schedule (bad base64url)");
        }
        var choices = new List<byte>();
        for (var i = 0; i < bytes.Length;)
        {
            ulong v = 0;
            var shift = 0;
            while (true)
            {
                if (i == bytes.Length || shift > 56) throw new FormatException($"'{token}' is not a schedule (truncated)");
                var b = bytes[i++];
                v |= (ulong)(b & 0x7F) << shift;
                shift += 7;
                if ((b & 0x80) == 0) break;
            }
            var run = (v >> 5) + 1;
            if (run > 10_000_000) throw new FormatException($"'{token}' is not a schedule (run too long)");
            for (ulong r = 0; r < run; r++) choices.Add((byte)(v & 31));
        }
        return choices.ToArray();
    }
}
