//! The Kubernetes CEL libraries, run through the public API (`Engine::eval_expression`), with
//! the examples of the Kubernetes documentation as the expected behaviour. Each table cites its
//! source:
//!
//! * "Common Expression Language in Kubernetes", kubernetes.io/docs/reference/using-api/cel/
//! * the godoc of `k8s.io/apiserver/pkg/cel/library` (lists.go, regex.go, urls.go, ip.go,
//!   cidr.go, quantity.go, semverlib.go, format.go)
//! * cel-go's `ext` package docs (sets, strings)
//!
//! Where the godoc's example text and the library's code disagree, the code (what the
//! apiserver does) wins, and the case says so.

#[path = "k8s_cel/upstream.rs"]
mod upstream;

use celgate::engine::{Engine, Input};
use rstest::rstest;
use serde_json::{json, Value};

fn object() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/k8s-cel/object.json"
    ))
    .expect("fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn eval(src: &str) -> Result<Value, String> {
    Engine::eval_expression(src, &Input::new(object()), &[]).map_err(|e| e.to_string())
}

fn ok(src: &str, expected: &Value) {
    match eval(src) {
        Ok(v) => assert_eq!(&v, expected, "{src}"),
        Err(e) => panic!("{src}: {e}"),
    }
}

fn err(src: &str, needle: &str) {
    match eval(src) {
        Ok(v) => panic!("{src}: expected an error containing {needle:?}, got {v}"),
        Err(e) => assert!(e.contains(needle), "{src}: {e:?} lacks {needle:?}"),
    }
}

/// Source: cel-go ext strings (the version Kubernetes uses); strings indexed by code point.
#[rstest]
#[case("'hello'.charAt(4)", json!("o"))]
#[case("'hello'.charAt(5)", json!(""))]
#[case("'hello mellow'.indexOf('')", json!(0))]
#[case("'hello mellow'.indexOf('ello')", json!(1))]
#[case("'hello mellow'.indexOf('jello')", json!(-1))]
#[case("'hello mellow'.indexOf('ello', 6)", json!(7))]
#[case("'hello mellow'.lastIndexOf('ello')", json!(7))]
#[case("'hello mellow'.lastIndexOf('ello', 6)", json!(1))]
#[case("'TacoCat'.lowerAscii()", json!("tacocat"))]
#[case("'TacoCÆt Xii'.upperAscii()", json!("TACOCÆT XII"))]
#[case("'hello hello'.replace('he', 'we')", json!("wello wello"))]
#[case("'hello hello'.replace('he', 'we', 1)", json!("wello hello"))]
#[case("'hello hello'.split(' ')", json!(["hello", "hello"]))]
#[case("'hello hello hello'.split(' ', 2)", json!(["hello", "hello hello"]))]
#[case("'tacocat'.substring(4)", json!("cat"))]
#[case("'tacocat'.substring(0, 4)", json!("taco"))]
#[case("'  \\ttrim\\n    '.trim()", json!("trim"))]
#[case("['hello', 'mellow'].join(' ')", json!("hello mellow"))]
#[case("'gums'.reverse()", json!("smug"))]
#[case("strings.quote('single-quote with \"double quote\"')", json!("\"single-quote with \\\"double quote\\\"\""))]
#[case("'%s is %d years old'.format(['Ada', 36])", json!("Ada is 36 years old"))]
#[case("'¢ent'.charAt(0)", json!("¢"))]
#[case("object.metadata.name.indexOf('-')", json!(3))]
#[case("object.spec.names.join(',')", json!("b,a,c"))]
fn strings(#[case] src: &str, #[case] expected: Value) {
    ok(src, &expected);
}

/// Source: k8s.io/apiserver/pkg/cel/library/lists.go godoc, and cel-go ext lists.
#[rstest]
#[case("[1, 2, 3].isSorted()", json!(true))]
#[case("['a', 'b', 'b', 'c'].isSorted()", json!(true))]
#[case("[2.0, 1.0].isSorted()", json!(false))]
#[case("[1].isSorted()", json!(true))]
#[case("[].isSorted()", json!(true))]
#[case("[1, 3].sum()", json!(4))]
#[case("[1.0, 3.0].sum()", json!(4.0))]
#[case("[duration('1m'), duration('1s')].sum() == duration('1m1s')", json!(true))]
#[case("[].sum()", json!(0))]
#[case("[1, 3].min()", json!(1))]
#[case("[1, 3].max()", json!(3))]
#[case("[1].min()", json!(1))]
#[case("[1, 2, 2, 3].indexOf(2)", json!(1))]
#[case("['a', 'b', 'b', 'c'].lastIndexOf('b')", json!(2))]
#[case("[1.0].indexOf(1.1)", json!(-1))]
#[case("[].indexOf('string')", json!(-1))]
#[case("[1, 2, 3].includes(2)", json!(true))]
#[case("[1, 2, 3].includes(4)", json!(false))]
#[case("'model-a'.includes('model-a')", json!(true))]
#[case("[1, 2, 3, 4].slice(1, 3)", json!([2, 3]))]
#[case("[1, [2, 3], [4]].flatten()", json!([1, 2, 3, 4]))]
#[case("[1, 2, 2, 1].distinct()", json!([1, 2]))]
#[case("[3, 1, 2].sort()", json!([1, 2, 3]))]
#[case("[{'n': 2}, {'n': 1}].sortBy(e, e.n).map(e, e.n)", json!([1, 2]))]
#[case("lists.range(3)", json!([0, 1, 2]))]
#[case("object.spec.sortedPorts.isSorted()", json!(true))]
#[case("object.spec.ports.isSorted()", json!(false))]
#[case("object.spec.ports.max()", json!(9090))]
#[case("object.spec.ports.min()", json!(443))]
#[case("object.spec.ports.sum()", json!(17613))]
#[case("object.spec.weights.sum()", json!(2.0))]
#[case("object.spec.ports.indexOf(443)", json!(1))]
#[case("object.spec.names.sort()", json!(["a", "b", "c"]))]
fn lists(#[case] src: &str, #[case] expected: Value) {
    ok(src, &expected);
}

/// Source: cel-go ext sets (enabled by Kubernetes).
#[rstest]
#[case("sets.contains([], [])", json!(true))]
#[case("sets.contains([], [1])", json!(false))]
#[case("sets.contains([1, 2, 3, 4], [2, 3])", json!(true))]
#[case("sets.contains([1, 2.0, 3u], [1.0, 2u, 3])", json!(true))]
#[case("sets.equivalent([], [])", json!(true))]
#[case("sets.equivalent([1], [1, 1])", json!(true))]
#[case("sets.equivalent([1], [1u, 1.0])", json!(true))]
#[case("sets.equivalent([1, 2, 3], [3u, 2.0, 1])", json!(true))]
#[case("sets.intersects([1], [])", json!(false))]
#[case("sets.intersects([1], [1, 2])", json!(true))]
#[case("sets.intersects([[1], [2, 3]], [[1, 2], [2, 3.0]])", json!(true))]
#[case("sets.contains(object.spec.ports, [443, 8080])", json!(true))]
#[case("sets.intersects(object.spec.names, ['z', 'a'])", json!(true))]
#[case("sets.equivalent(object.spec.names, ['a', 'b', 'c'])", json!(true))]
fn sets(#[case] src: &str, #[case] expected: Value) {
    ok(src, &expected);
}

/// Source: kubernetes.io CEL page (regex examples) and regex.go. The godoc's `'[0-9]*'`
/// examples are written with `+` here: with `*`, Go's `FindString` returns the empty match at
/// position 0, which is what the apiserver (and celgate) answer.
#[rstest]
#[case("'abc 123'.find('[0-9]+')", json!("123"))]
#[case("'abc 123'.find('xyz')", json!(""))]
#[case("'abc 123'.find('[0-9]*')", json!(""))]
#[case("'123 abc 456'.findAll('[0-9]+')", json!(["123", "456"]))]
#[case("'123 abc 456'.findAll('[0-9]+', 1)", json!(["123"]))]
#[case("'123 abc 456'.findAll('xyz')", json!([]))]
#[case("'1, 2, 3, 4'.findAll('[0-9]+').map(x, int(x)).sum() < 100", json!(true))]
#[case("object.spec.text.findAll('[0-9]+').map(x, int(x)).max()", json!(1000))]
#[case("object.spec.text.find('id-[0-9]+')", json!("id-42"))]
fn regex(#[case] src: &str, #[case] expected: Value) {
    ok(src, &expected);
}

/// Source: k8s.io/apiserver/pkg/cel/library/urls.go godoc.
#[rstest]
#[case("isURL('https://user:pass@example.com:80/path?query=val#fragment')", json!(true))]
#[case("isURL('/absolute-path')", json!(true))]
#[case("isURL('https://a:b:c/')", json!(false))]
#[case("isURL('../relative-path')", json!(false))]
#[case("url('/path').getScheme()", json!(""))]
#[case("url('https://example.com/').getScheme()", json!("https"))]
#[case("url('https://example.com:80/').getHost()", json!("example.com:80"))]
#[case("url('https://example.com/').getHost()", json!("example.com"))]
#[case("url('https://[::1]:80/').getHost()", json!("[::1]:80"))]
#[case("url('https://[::1]/').getHost()", json!("[::1]"))]
#[case("url('/path').getHost()", json!(""))]
#[case("url('https://example.com:80/').getHostname()", json!("example.com"))]
#[case("url('https://127.0.0.1:80/').getHostname()", json!("127.0.0.1"))]
#[case("url('https://[::1]:80/').getHostname()", json!("::1"))]
#[case("url('/path').getHostname()", json!(""))]
#[case("url('https://example.com:80/').getPort()", json!("80"))]
#[case("url('https://example.com/').getPort()", json!(""))]
#[case("url('/path').getPort()", json!(""))]
#[case("url('https://example.com/path').getEscapedPath()", json!("/path"))]
#[case("url('https://example.com/path with spaces/').getEscapedPath()", json!("/path%20with%20spaces/"))]
#[case("url('https://example.com').getEscapedPath()", json!(""))]
#[case("url('https://example.com/path?k1=a&k2=b&k2=c').getQuery()", json!({"k1": ["a"], "k2": ["b", "c"]}))]
#[case("url('https://example.com/path?key with spaces=value with spaces').getQuery()", json!({"key with spaces": ["value with spaces"]}))]
#[case("url('https://example.com/path?').getQuery()", json!({}))]
#[case("url('https://example.com/path').getQuery()", json!({}))]
#[case("url(object.spec.endpoint).getHostname()", json!("api.example.com"))]
#[case("url(object.spec.endpoint).getQuery()['label']", json!(["a", "b"]))]
#[case("url(object.spec.endpoint).getScheme() == 'https'", json!(true))]
fn urls(#[case] src: &str, #[case] expected: Value) {
    ok(src, &expected);
}

/// Source: k8s.io/apiserver/pkg/cel/library/ip.go and cidr.go godoc. `cidr('192.168.0.1/16')`
/// is not an error there: the godoc says so, but the code (and its own `masked()` examples)
/// accepts host bits.
#[rstest]
#[case("isIP('127.0.0.1')", json!(true))]
#[case("isIP('::1')", json!(true))]
#[case("isIP('127.0.0.256')", json!(false))]
#[case("isIP(':::1')", json!(false))]
#[case("ip.isCanonical('127.0.0.1')", json!(true))]
#[case("ip.isCanonical('2001:db8::abcd')", json!(true))]
#[case("ip.isCanonical('2001:DB8::ABCD')", json!(false))]
#[case("ip.isCanonical('2001:db8::0:0:0:abcd')", json!(false))]
#[case("ip('127.0.0.1').family()", json!(4))]
#[case("ip('::1').family()", json!(6))]
#[case("ip('0.0.0.0').isUnspecified()", json!(true))]
#[case("ip('127.0.0.1').isUnspecified()", json!(false))]
#[case("ip('::').isUnspecified()", json!(true))]
#[case("ip('127.0.0.1').isLoopback()", json!(true))]
#[case("ip('192.168.0.1').isLoopback()", json!(false))]
#[case("ip('::1').isLoopback()", json!(true))]
#[case("ip('2001:db8::abcd').isLoopback()", json!(false))]
#[case("ip('224.0.0.1').isLinkLocalMulticast()", json!(true))]
#[case("ip('224.0.1.1').isLinkLocalMulticast()", json!(false))]
#[case("ip('ff02::1').isLinkLocalMulticast()", json!(true))]
#[case("ip('fd00::1').isLinkLocalMulticast()", json!(false))]
#[case("ip('169.254.169.254').isLinkLocalUnicast()", json!(true))]
#[case("ip('192.168.0.1').isLinkLocalUnicast()", json!(false))]
#[case("ip('fe80::1').isLinkLocalUnicast()", json!(true))]
#[case("ip('fd80::1').isLinkLocalUnicast()", json!(false))]
#[case("ip('192.168.0.1').isGlobalUnicast()", json!(true))]
#[case("ip('255.255.255.255').isGlobalUnicast()", json!(false))]
#[case("ip('2001:db8::abcd').isGlobalUnicast()", json!(true))]
#[case("ip('ff00::1').isGlobalUnicast()", json!(false))]
#[case("string(ip('2001:DB8::ABCD'))", json!("2001:db8::abcd"))]
#[case("ip('127.0.0.1') == ip('127.0.0.1')", json!(true))]
#[case("isCIDR('192.168.0.0/16')", json!(true))]
#[case("isCIDR('::1/128')", json!(true))]
#[case("isCIDR('192.168.0.0/33')", json!(false))]
#[case("isCIDR('::1/129')", json!(false))]
#[case("cidr('192.168.0.0/24').containsIP(ip('192.168.0.1'))", json!(true))]
#[case("cidr('192.168.0.0/24').containsIP(ip('192.168.1.1'))", json!(false))]
#[case("cidr('192.168.0.0/24').containsIP('192.168.0.1')", json!(true))]
#[case("cidr('192.168.0.0/24').containsIP('192.168.1.1')", json!(false))]
#[case("cidr('192.168.0.0/16').containsCIDR(cidr('192.168.10.0/24'))", json!(true))]
#[case("cidr('192.168.1.0/24').containsCIDR(cidr('192.168.2.0/24'))", json!(false))]
#[case("cidr('192.168.0.0/16').containsCIDR('192.168.10.0/24')", json!(true))]
#[case("cidr('192.168.1.0/24').containsCIDR('192.168.2.0/24')", json!(false))]
#[case("cidr('192.168.0.1/24').ip() == ip('192.168.0.1')", json!(true))]
#[case("cidr('192.168.0.1/24').ip().family()", json!(4))]
#[case("cidr('::1/128').ip() == ip('::1')", json!(true))]
#[case("cidr('::1/128').ip().family()", json!(6))]
#[case("cidr('192.168.0.0/24').masked() == cidr('192.168.0.0/24')", json!(true))]
#[case("cidr('192.168.0.1/24').masked() == cidr('192.168.0.0/24')", json!(true))]
#[case("cidr('192.168.0.0/24') == cidr('192.168.0.0/24').masked()", json!(true))]
#[case("cidr('192.168.0.1/24') == cidr('192.168.0.1/24').masked()", json!(false))]
#[case("cidr('192.168.0.0/16').prefixLength()", json!(16))]
#[case("cidr('::1/128').prefixLength()", json!(128))]
#[case("string(cidr('192.168.0.1/24').masked())", json!("192.168.0.0/24"))]
#[case("cidr(object.spec.podCIDR).containsIP(object.spec.podIP)", json!(true))]
#[case("object.spec.allowedCIDRs.exists(c, cidr(c).containsIP(ip(object.spec.podIP)))", json!(true))]
#[case("ip.isCanonical(object.spec.ipv6)", json!(false))]
#[case("ip(object.spec.ipv6)", json!("2001:db8::abcd"))]
fn ip_and_cidr(#[case] src: &str, #[case] expected: Value) {
    ok(src, &expected);
}

/// Source: k8s.io/apiserver/pkg/cel/library/quantity.go godoc.
#[rstest]
#[case("isQuantity('1.3G')", json!(true))]
#[case("isQuantity('1.3Gi')", json!(true))]
#[case("isQuantity('1,3G')", json!(false))]
#[case("isQuantity('10000k')", json!(true))]
#[case("isQuantity('200K')", json!(false))]
#[case("isQuantity('Three')", json!(false))]
#[case("isQuantity('Mi')", json!(false))]
#[case("quantity('50000000G').isInteger()", json!(true))]
#[case("quantity('50k').isInteger()", json!(true))]
#[case("quantity('9999999999999999999999999999999999999G').isInteger()", json!(false))]
#[case("quantity('50k').asInteger() == 50000", json!(true))]
#[case("quantity('50k').sub(20000).asApproximateFloat() == 30000.0", json!(true))]
#[case("quantity('50k').sign()", json!(1))]
#[case("quantity('-1m').sign()", json!(-1))]
#[case("quantity('0').sign()", json!(0))]
#[case("quantity('50k').add(quantity('20k')) == quantity('70k')", json!(true))]
#[case("quantity('50k').add(20) == quantity('50020')", json!(true))]
#[case("quantity('50k').sub(quantity('20k')) == quantity('30k')", json!(true))]
#[case("quantity('50k').sub(20000) == quantity('30k')", json!(true))]
#[case("quantity('50k').add(20).sub(quantity('100k')).sub(-50000) == quantity('20')", json!(true))]
#[case("quantity('200M').compareTo(quantity('0.2G'))", json!(0))]
#[case("quantity('50M').compareTo(quantity('50Mi'))", json!(-1))]
#[case("quantity('50Mi').compareTo(quantity('50M'))", json!(1))]
#[case("quantity('150Mi').isGreaterThan(quantity('100Mi'))", json!(true))]
#[case("quantity('50Mi').isGreaterThan(quantity('100Mi'))", json!(false))]
#[case("quantity('50M').isLessThan(quantity('100M'))", json!(true))]
#[case("quantity('100M').isLessThan(quantity('50M'))", json!(false))]
#[case("quantity('1Ki') == quantity('1024')", json!(true))]
#[case("quantity('1.5Gi')", json!("1.5Gi"))]
#[case("quantity(object.spec.memory).isLessThan(quantity(object.spec.limit))", json!(true))]
#[case("quantity(object.spec.cpu).asApproximateFloat()", json!(0.5))]
#[case("quantity(object.spec.cpu).isInteger()", json!(false))]
#[case("isQuantity(object.spec.badQuantity)", json!(false))]
fn quantities(#[case] src: &str, #[case] expected: Value) {
    ok(src, &expected);
}

/// Source: k8s.io/apiserver/pkg/cel/library/semverlib.go godoc.
#[rstest]
#[case("isSemver('1.0.0')", json!(true))]
#[case("isSemver('hello')", json!(false))]
#[case("isSemver('v1.0')", json!(false))]
#[case("isSemver('v1.0', true)", json!(true))]
#[case("isSemver('1.0', true)", json!(true))]
#[case("isSemver('01.01.01', true)", json!(true))]
#[case("semver('v1.0.0', true) == semver('1.0.0')", json!(true))]
#[case("semver('1.0', true) == semver('1.0.0')", json!(true))]
#[case("semver('01.01.01', true) == semver('1.1.1')", json!(true))]
#[case("semver('1.2.3').major()", json!(1))]
#[case("semver('1.2.3').minor()", json!(2))]
#[case("semver('1.2.3').patch()", json!(3))]
#[case("semver('1.2.3').compareTo(semver('1.2.3'))", json!(0))]
#[case("semver('1.2.3').compareTo(semver('2.0.0'))", json!(-1))]
#[case("semver('1.2.3').compareTo(semver('0.1.2'))", json!(1))]
#[case("semver('1.0.0-alpha').isLessThan(semver('1.0.0'))", json!(true))]
#[case("semver('1.0.0+a') == semver('1.0.0+b')", json!(true))]
#[case("semver('0.1.0-alpha.1')", json!("0.1.0-alpha.1"))]
#[case("semver(object.spec.version, true).minor() >= 28", json!(true))]
#[case("semver(object.spec.strictVersion).isLessThan(semver('1.27.3'))", json!(true))]
fn semvers(#[case] src: &str, #[case] expected: Value) {
    ok(src, &expected);
}

/// Source: k8s.io/apiserver/pkg/cel/library/format.go godoc; messages as
/// k8s.io/apimachinery's validation words them.
#[rstest]
#[case("format.dns1123Label().validate('my-label-name')", json!(null))]
#[case("format.dns1123Subdomain().validate('apiextensions.k8s.io')", json!(null))]
#[case("format.dns1035Label().validate('my-label-name')", json!(null))]
#[case("format.qualifiedName().validate('apiextensions.k8s.io/v1beta1')", json!(null))]
#[case("format.dns1123LabelPrefix().validate('my-label-prefix-')", json!(null))]
#[case("format.dns1123SubdomainPrefix().validate('mysubdomain.prefix.-')", json!(null))]
#[case("format.dns1035LabelPrefix().validate('my-label-prefix-')", json!(null))]
#[case("format.uri().validate('http://example.com')", json!(null))]
#[case("format.uuid().validate('123e4567-e89b-12d3-a456-426614174000')", json!(null))]
#[case("format.byte().validate('aGVsbG8=')", json!(null))]
#[case("format.date().validate('2021-01-01')", json!(null))]
#[case("format.datetime().validate('2021-01-01T00:00:00Z')", json!(null))]
#[case("format.labelValue().validate('')", json!(null))]
#[case("format.named('dns1123Label').hasValue()", json!(true))]
#[case("format.named('nope').hasValue()", json!(false))]
#[case("format.named('dns1123Label').value().validate('ok').hasValue()", json!(false))]
#[case("format.dns1123Label().validate('Not_OK').hasValue()", json!(true))]
#[case("format.dns1123Label().validate('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa').value()", json!(["must be no more than 63 characters"]))]
#[case("format.date().validate('2021-02-30')", json!(["invalid date"]))]
#[case("format.datetime().validate('2021-01-01 00:00:00')", json!(["invalid datetime"]))]
#[case("format.uuid().validate('nope')", json!(["does not match the UUID format"]))]
#[case("format.byte().validate('not base64!')", json!(["invalid base64"]))]
#[case("format.qualifiedName().validate('a/b/c').value().size()", json!(1))]
#[case("format.qualifiedName().validate('/name')", json!(["prefix part must be non-empty"]))]
#[case("format.dns1123Label().validate(object.metadata.name)", json!(null))]
#[case(
    "format.dns1123Label().validate(object.spec.hostname).value()",
    json!(["a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"])
)]
fn formats(#[case] src: &str, #[case] expected: Value) {
    ok(src, &expected);
}

/// Source: kubernetes.io CEL page ("type(self) == string ? ..."), cel-spec type names, and
/// the optional library the page lists (`?.`, `.?`, `orValue`, `hasValue`, `optional.*`).
#[rstest]
#[case("type('') == string", json!(true))]
#[case("type(1) == int", json!(true))]
#[case("type(1u) == uint", json!(true))]
#[case("type(1.5) == double", json!(true))]
#[case("type(true) == bool", json!(true))]
#[case("type(b'x') == bytes", json!(true))]
#[case("type([]) == list", json!(true))]
#[case("type({}) == map", json!(true))]
#[case("type(null) == null_type", json!(true))]
#[case("type(string) == type", json!(true))]
#[case("type(duration('1s')) == google.protobuf.Duration", json!(true))]
#[case("type(object.spec.ports) == list && type(object.metadata) == map", json!(true))]
#[case("type(object.spec.memory) == string ? quantity(object.spec.memory).isInteger() : false", json!(true))]
#[case("type(ip('::1')) == net.IP", json!(true))]
#[case("type(cidr('::1/128')) == net.CIDR", json!(true))]
#[case("type(quantity('1')) == kubernetes.Quantity", json!(true))]
#[case("type(semver('1.0.0')) == kubernetes.Semver", json!(true))]
#[case("type(url('/a')) == kubernetes.URL", json!(true))]
#[case("object.metadata.?labels.?app.orValue('none')", json!("web"))]
#[case("object.metadata.?annotations.?owner.orValue('none')", json!("none"))]
#[case("object.metadata.labels[?'tier'].hasValue()", json!(true))]
#[case("object.?status.?phase.hasValue()", json!(false))]
#[case("optional.of(1).value()", json!(1))]
#[case("optional.none().orValue(5)", json!(5))]
#[case("optional.ofNonZeroValue('').hasValue()", json!(false))]
#[case("optional.none().or(optional.of(2)).value()", json!(2))]
#[case("[1, ?optional.none(), ?optional.of(3)]", json!([1, 3]))]
#[case("{'a': 1, ?'b': optional.none()}", json!({"a": 1}))]
#[case("has(object.metadata.labels) && !has(object.metadata.annotations)", json!(true))]
#[case("object.spec.ports.exists_one(p, p == 443)", json!(true))]
#[case("object.spec.ports.filter(p, p > 1000).map(p, p * 2)", json!([16160, 18180]))]
fn types_optionals_and_macros(#[case] src: &str, #[case] expected: Value) {
    ok(src, &expected);
}

/// Bad inputs: each error names the function and says what was wrong.
#[rstest]
#[case("quantity('200K')", "quantity")]
#[case("quantity('Three')", "quantities must match")]
#[case("quantity(object.spec.badQuantity)", "'200K'")]
#[case(
    "quantity('9999999999999999999999999999999999999G').asInteger()",
    "cannot convert value to integer"
)]
#[case("ip('127.0.0.256')", "ip")]
#[case("ip(':::1')", "parse error")]
#[case("ip('::ffff:1.2.3.4')", "IPv4-mapped")]
#[case("ip('fe80::1%eth0')", "zone")]
#[case("ip.isCanonical('nope')", "ip.isCanonical")]
#[case("cidr('192.168.0.0/33')", "cidr")]
#[case("cidr('::1/129')", "bad bits")]
#[case("url('https://a:b:c/')", "invalid port")]
#[case("url('../relative-path')", "invalid URI for request")]
#[case("semver('200K')", "semver")]
#[case("semver('v1.0.0')", "not a semantic version")]
#[case("[].min()", "min called on empty list")]
#[case("[].max()", "max called on empty list")]
#[case("[1, 'a'].isSorted()", "not comparable")]
#[case("[1, 2u].sum()", "cannot add")]
#[case("object.spec.mixed.isSorted()", "not comparable")]
#[case("'abc'.find('(')", "not a valid regex")]
#[case("'abc'.findAll('[')", "findAll")]
#[case("quantity(1)", "'quantity' applied to '(int)'")]
#[case("quantity('1').isLessThan(1)", "'isLessThan' applied to 'kubernetes.Quantity.(int)'")]
#[case("ip('::1').family(1)", "'family'")]
#[case("cidr('10.0.0.0/8').containsIP(1)", "'containsIP' applied to 'net.CIDR.(int)'")]
#[case(
    "semver('1.0.0').compareTo(quantity('1'))",
    "kubernetes.Semver.(kubernetes.Quantity)"
)]
#[case("sets.contains(1, [1])", "'sets.contains' applied to '(int, list)'")]
#[case("url(object.spec.ports)", "'url' applied to '(list)'")]
#[case("format.named(1)", "format.named")]
#[case("format.dns1123Label().validate(1)", "'validate'")]
#[case("isIP(object.spec.ports)", "'isIP'")]
fn errors(#[case] src: &str, #[case] needle: &str) {
    err(src, needle);
}
