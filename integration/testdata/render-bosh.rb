# Renders a BOSH job template the way the director does for p(): spec defaults, overridden by
# the JSON object in ARGV[1]. Usage: ruby render-bosh.rb SPEC OVERRIDES_JSON TEMPLATE
require 'erb'
require 'json'
require 'yaml'

job_spec = YAML.load_file(ARGV[0])
props = {}
job_spec.fetch('properties').each { |name, def_| props[name] = def_['default'] }
props.merge!(JSON.parse(ARGV[1]) || {})

# spec: the instance the director renders for (a fixed one here).
BoshSpec = Struct.new(:name, :id, :index, :deployment)
define_method(:spec) { BoshSpec.new('worker', '6a1b2c3d-0000-4000-8000-000000000001', 0, 'concourse') }

define_method(:p) do |name|
  raise "template asks for property #{name}, which the spec does not declare" unless props.key?(name)
  props[name]
end

print ERB.new(File.read(ARGV[2]), trim_mode: '-').result(binding) # as the director renders: '-' trims
