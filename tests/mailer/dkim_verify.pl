#!/usr/bin/perl
# Verifies the DKIM signature of the message on stdin with Mail::DKIM, using the TXT record
# given as the first argument instead of DNS. Prints the result and details; exit 0 on pass.
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Net::DNS;

my ($txt_record) = @ARGV;
defined $txt_record or die "usage: dkim_verify.pl TXT-RECORD < message\n";

{
    no warnings 'redefine';
    # Every TXT lookup answers with the test key, split into 255-byte strings as in DNS.
    *Mail::DKIM::DNS::query = sub {
        my ($name, $type) = @_;
        return () unless $type eq 'TXT';
        my @strings = unpack('(a255)*', $txt_record);
        return Net::DNS::RR->new(name => $name, type => 'TXT', txtdata => \@strings);
    };
}

binmode STDIN;
my $verifier = Mail::DKIM::Verifier->new();
while (my $line = <STDIN>) {
    $line =~ s/\015?\012\z/\015\012/;
    $verifier->PRINT($line);
}
$verifier->CLOSE();

print $verifier->result(), "\n", ($verifier->result_detail() // ''), "\n";
foreach my $signature ($verifier->signatures()) {
    print 'signature: ', $signature->result_detail(), "\n";
}
exit($verifier->result() eq 'pass' ? 0 : 1);
