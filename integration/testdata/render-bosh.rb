# Renders a BOSH job template the way the director does for p(): spec defaults, overridden by
# the JSON object in ARGV[1]. Usage: ruby render-bosh.rb SPEC OVERRIDES_JSON TEMPLATE
require 'erb'
require 'json'
require 'yaml'

spec = YAML.load_file(ARGV[0])
props = {}
spec.fetch('properties').each { |name, def_| props[name] = def_['default'] }
props.merge!(JSON.parse(ARGV[1]) || {})

define_method(:p) do |name|
  raise "template asks for property #{name}, which the spec does not declare" unless props.key?(name)
  props[name]
end

print ERB.new(File.read(ARGV[2]), trim_mode: '-').result(binding) # as the director renders: '-' trims
