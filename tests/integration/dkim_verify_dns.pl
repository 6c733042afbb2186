#!/usr/bin/perl
# Verifies the DKIM signature of the message on stdin with Mail::DKIM, looking the key up in the
# DNS server at the HOST and PORT given as arguments (the tests' loopback server). Exit 0 on pass.
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Net::DNS;

my ($host, $port) = @ARGV;
defined $port or die "usage: dkim_verify_dns.pl HOST PORT < message\n";

Mail::DKIM::DNS::resolver(
    Net::DNS::Resolver->new(nameservers => [$host], port => $port, recurse => 0, retry => 2,
                            udp_timeout => 5, tcp_timeout => 5));

binmode STDIN;
my $verifier = Mail::DKIM::Verifier->new();
while (my $line = <STDIN>) {
    $line =~ s/\015?\012\z/\015\012/;
    $verifier->PRINT($line);
}
$verifier->CLOSE();

print $verifier->result(), "\n", ($verifier->result_detail() // ''), "\n";
foreach my $signature ($verifier->signatures()) {
    print 'signature: ', $signature->selector(), ' ', $signature->result_detail(), "\n";
}
exit($verifier->result() eq 'pass' ? 0 : 1);
